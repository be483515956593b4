"""deploys/le_potato.py as a whole: idempotent, --limit, and refusing the wrong OS."""

import pytest

from tests.support import assert_idempotent, run_deploy

pytestmark = pytest.mark.lab


def test_second_run_changes_nothing(converged_potato, inventory):
    assert_idempotent("le_potato", inventory)


def test_limit_to_the_potato_touches_no_other_host(lab, converged_potato, inventory):
    lab.ssh("gpu-node", "echo 'left alone' | tee -a /etc/homelab-managed >/dev/null", sudo=True)
    lab.ssh("potato", "echo 'hand edit' | tee -a /etc/homelab-managed >/dev/null", sudo=True)
    run = run_deploy("site", inventory, limit="potato")
    assert run.returncode == 0, run.explain()
    touched = {host for op in run.payload["results"]["operations"] for host in op["success"] + op["no_change"]}
    assert touched == {"potato"}
    assert "left alone" in lab.ssh("gpu-node", "cat /etc/homelab-managed").stdout
    assert "hand edit" not in lab.ssh("potato", "cat /etc/homelab-managed").stdout
    lab.ssh("gpu-node", "sed -i '/left alone/d' /etc/homelab-managed", sudo=True)


def test_a_host_that_is_not_debian_like_is_refused_alone(lab, converged_potato, inventory):
    lab.ssh("potato", "cp /usr/lib/os-release /root/os-release.orig && "
                      "sed -i 's/^ID=.*/ID=fedora/; s/^ID_LIKE=.*//' /usr/lib/os-release", sudo=True)
    try:
        run = run_deploy("site", inventory, limit=["potato", "gpu-node"])
        assert run.returncode == 1, run.explain()
        assert run.failed_hosts == ["potato"]
        assert "refused: not a Debian-like system (os-release ID=fedora)" in run.stderr
    finally:
        lab.ssh("potato", "cp /root/os-release.orig /usr/lib/os-release", sudo=True)
