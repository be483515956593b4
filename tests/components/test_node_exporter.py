"""The Le Potato's node exporter, on the lab's potato host."""

import pytest

from tests.support import assert_idempotent, assert_repairs

pytestmark = pytest.mark.lab
SERVICE = "prometheus-node-exporter"


def main_pid(lab):
    return lab.ssh("potato", f"systemctl show -p MainPID --value {SERVICE}").stdout.strip()


def test_metrics_reach_the_gpu_node_over_the_lab_network(lab, converged_potato):
    potato = lab.spec("potato").address
    metrics = lab.ssh("gpu-node", f"curl -sf http://{potato}:9100/metrics").stdout
    assert 'homelab_managed_info{host="potato",role="le_potato",site="homelab"} 1' in metrics
    assert "node_textfile_scrape_error 0" in metrics
    assert "node_cpu_seconds_total" in metrics


def test_listens_on_the_lan_address_only(lab, converged_potato):
    listening = lab.ssh("potato", "ss -Hltn 'sport = :9100'").stdout.split()
    assert f"{lab.spec('potato').address}:9100" in listening
    assert lab.ssh("potato", "curl -sf http://127.0.0.1:9100/metrics", check=False).returncode != 0


def test_unchanged_run_restarts_nothing(lab, converged_potato, inventory):
    before = main_pid(lab)
    assert_idempotent("le_potato", inventory, limit="potato")
    assert main_pid(lab) == before


def test_stopped_service_is_started_again(lab, converged_potato, inventory):
    lab.ssh("potato", f"systemctl stop {SERVICE}", sudo=True)
    run = assert_repairs("le_potato", inventory, "potato", limit="potato")
    assert f"Node exporter | {SERVICE} enabled and running" in run.changed_operations("potato")
    assert lab.ssh("potato", f"systemctl is-active {SERVICE}").stdout.strip() == "active"


def test_edited_options_are_restored_and_the_service_restarted_once(lab, converged_potato, inventory):
    lab.ssh("potato", f"sed -i 's/--web.listen-address=[^ ]*/--web.listen-address=:9200/' /etc/default/{SERVICE}"
                      f" && systemctl restart {SERVICE}", sudo=True)
    assert lab.ssh("potato", "ss -Hltn 'sport = :9200'").stdout.strip()
    run = assert_repairs("le_potato", inventory, "potato", limit="potato")
    assert f"Node exporter | Restart {SERVICE} after a change" in run.changed_operations("potato")
    address = lab.spec("potato").address
    assert f"--web.listen-address={address}:9100" in lab.ssh("potato", f"cat /etc/default/{SERVICE}").stdout
    assert lab.ssh("gpu-node", f"curl -sf http://{address}:9100/metrics", check=False).returncode == 0
