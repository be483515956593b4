"""The Le Potato's apt cache, on the lab's potato host; the GPU node host as its client."""

import pytest

from tests.support import assert_converges, assert_idempotent, assert_repairs, inventory_variant, run_deploy

pytestmark = pytest.mark.lab


def potato_url(lab):
    return f"http://{lab.spec('potato').address}:3142"


def test_settings_backends_and_expiry_timer(lab, converged_potato):
    conf = lab.ssh("potato", "cat /etc/apt-cacher-ng/zz_homelab.conf").stdout
    assert "Port: 3142" in conf and "CacheDir: /var/cache/apt-cacher-ng" in conf and "ExThreshold: 4" in conf
    assert "Proxy: http://10.77.0.1:3142" in conf  # the lab's upstream (group data: apt_cache_upstream_proxy)
    assert lab.ssh("potato", "cat /etc/apt-cacher-ng/backends_ubuntu").stdout == "http://archive.ubuntu.com/ubuntu/\n"
    assert lab.ssh("potato", "systemctl is-active apt-cacher-ng homelab-apt-cache-expire.timer").stdout.split() == [
        "active", "active"]


def test_gpu_node_installs_through_the_potato_and_the_package_lands_in_its_cache(lab, converged_potato, tmp_path):
    """The inventory says apt_proxy_url = the potato: the GPU node's apt goes through it
    (and the potato's own apt goes through itself once the cache runs)."""
    url = potato_url(lab)
    variant = inventory_variant(lab, tmp_path, {"gpu-node": {"apt_proxy_url": url}, "potato": {"apt_proxy_url": url}})
    try:
        assert_converges("le_potato", variant, limit="potato")
        assert_converges("base", variant, limit="gpu-node")
        assert f'"{url}"' in lab.ssh("gpu-node", "cat /etc/apt/apt.conf.d/01homelab-proxy").stdout
        assert f'"{url}"' in lab.ssh("potato", "cat /etc/apt/apt.conf.d/01homelab-proxy").stdout
        # Debian's repository only: the lab's stand-in NVIDIA repository listens on a port
        # (8473) that apt-cacher-ng refuses by default.
        debian_only = "-o Dir::Etc::SourceParts=/nonexistent"
        lab.ssh("gpu-node", f"apt-get {debian_only} update -qq && "
                            f"DEBIAN_FRONTEND=noninteractive apt-get {debian_only} install -y -qq tree", sudo=True)
        cached = lab.ssh("potato", "find /var/cache/apt-cacher-ng -name 'tree_*.deb'", sudo=True).stdout
        assert "tree_" in cached
        assert_idempotent("le_potato", variant, limit="potato")
    finally:  # back to the lab's default proxy for the other tests
        assert_converges("le_potato", lab.inventory_file, limit="potato", expect_changes=False)
        assert_converges("base", lab.inventory_file, limit="gpu-node", expect_changes=False)


def test_warns_when_the_cache_filesystem_is_nearly_full(lab, converged_potato, tmp_path):
    quiet = run_deploy("le_potato", lab.inventory_file, limit="potato")
    assert "full" not in quiet.stderr
    variant = inventory_variant(lab, tmp_path, {"potato": {"apt_cache_warn_percent": 1}})
    loud = run_deploy("le_potato", variant, limit="potato")
    assert loud.returncode == 0 and loud.changes == 0
    assert "the apt cache's filesystem" in loud.stderr and "move apt_cache_dir to USB storage" in loud.stderr


def test_cache_directory_on_other_storage(lab, converged_potato, tmp_path):
    variant = inventory_variant(lab, tmp_path, {"potato": {"apt_cache_dir": "/srv/usb/apt-cache"}})
    try:
        assert_converges("le_potato", variant, limit="potato")
        assert lab.ssh("potato", "stat -c %U /srv/usb/apt-cache").stdout.strip() == "apt-cacher-ng"
        assert "RequiresMountsFor=/srv/usb/apt-cache" in lab.ssh(
            "potato", "systemctl cat apt-cacher-ng").stdout
        assert "CacheDir: /srv/usb/apt-cache" in lab.ssh("potato", "cat /etc/apt-cacher-ng/zz_homelab.conf").stdout
        assert_idempotent("le_potato", variant, limit="potato")
    finally:
        assert_converges("le_potato", lab.inventory_file, limit="potato")


def test_edited_config_and_stopped_service_are_repaired(lab, converged_potato, inventory):
    lab.ssh("potato", "sed -i 's/^ExThreshold: .*/ExThreshold: 99/' /etc/apt-cacher-ng/zz_homelab.conf"
                      " && systemctl stop apt-cacher-ng", sudo=True)
    run = assert_repairs("le_potato", inventory, "potato", limit="potato")
    changed = run.changed_operations("potato")
    assert "apt cache | apt-cacher-ng settings" in changed
    assert "apt cache | Restart apt-cacher-ng after a change" in changed
    assert "ExThreshold: 4" in lab.ssh("potato", "cat /etc/apt-cacher-ng/zz_homelab.conf").stdout
    assert lab.ssh("potato", "systemctl is-active apt-cacher-ng").stdout.strip() == "active"
