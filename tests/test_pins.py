"""The pins as `tasks.py upgrade` reads them, without the lab: k3s's order and skew rules,
pins that move without their partner, and the recorded pins handed back to pyinfra."""

import pytest
from pyinfra_cli.util import parse_cli_arg

from homelab import pins
from homelab.upgrade.plan import k3s_refusals

V133, V134, V135, V136 = "v1.33.6+k3s1", "v1.34.2+k3s1", "v1.35.0+k3s1", "v1.36.1+k3s1"


def test_one_minor_at_a_time_server_and_agents():
    assert k3s_refusals("pc", {"pc": V133, "pc2": V133}, {"pc": V134, "pc2": V134}) == []
    assert k3s_refusals("pc", {"pc": None}, {"pc": V136}) == []  # a first install has nothing to skip
    [refusal] = k3s_refusals("pc", {"pc": V134}, {"pc": V136})
    assert "pc: k3s v1.34.2+k3s1 -> v1.36.1+k3s1 skips a minor release" in refusal
    assert "pin the newest v1.35.x+k3sN first" in refusal


def test_a_downgrade_is_refused_with_the_backup_as_the_way_back():
    [refusal] = k3s_refusals("pc", {"pc": V134}, {"pc": V133})
    assert "k3s cannot be downgraded" in refusal and "pin v1.34.2+k3s1 or newer" in refusal


def test_an_agent_is_never_newer_than_the_server():
    pinned_newer = k3s_refusals("pc", {"pc": V134, "pc2": V134}, {"pc": V134, "pc2": V135})
    assert any("pc2: k3s_version v1.35.0+k3s1 is newer than the server's v1.34.2+k3s1" in r for r in pinned_newer)
    running_newer = k3s_refusals("pc", {"pc": V133, "pc2": V135}, {"pc": V134, "pc2": V135})
    assert any("pc2: runs k3s v1.35.0+k3s1, newer than the v1.34.2+k3s1 the server would run" in r
               for r in running_newer)


def test_a_patch_release_is_no_skip():
    assert k3s_refusals("pc", {"pc": "v1.34.1+k3s1"}, {"pc": "v1.34.3+k3s2"}) == []


def test_a_pin_moving_without_its_partner_is_named():
    old = {"vllm_stack_chart_version": "0.1.11", "vllm_router_image": "lmcache/lmstack-router:v0.1.11",
           "vllm_image": "vllm/vllm-openai:v0.11.1"}
    both = dict(old, vllm_stack_chart_version="0.1.12", vllm_router_image="lmcache/lmstack-router:v0.1.12")
    [lonely] = pins.lonely_moves(old, both)  # the vLLM image stays: the chart moved without it
    assert lonely.startswith("vllm_stack_chart_version moves (0.1.11 -> 0.1.12) but vllm_image stays at")
    alone = dict(old, vllm_stack_chart_version="0.1.12")
    assert any("but vllm_router_image stays at lmcache/lmstack-router:v0.1.11" in m
               for m in pins.lonely_moves(old, alone))
    assert pins.lonely_moves(old, old) == []


def test_recorded_pins_reach_pyinfra_as_the_same_values():
    record = {"k3s_version": V134, "k3s_sha256": {"amd64": "a" * 64, "arm64": "b" * 64},
              "open_webui_chart_version": "16.0.0", "device_plugin_chart_version": "0.20.0"}
    options = pins.data_options(record)
    assert options[::2] == ["--data"] * len(record)
    parsed = dict(option.split("=", 1) for option in options[1::2])
    assert {key: parse_cli_arg(value) for key, value in parsed.items()} == record


def test_a_record_that_is_not_the_pins_is_no_record():
    assert pins.parse_record("") is None
    assert pins.parse_record('{"k3s_version": "v1.34.2+k3s1"}') is None  # pins missing
    assert pins.parse_record("[1, 2]") is None


@pytest.mark.parametrize("name", ["1.34.2", "v1.34+k3s1", "v1.34.2-k3s1"])
def test_k3s_release_names_are_checked(name):
    with pytest.raises(ValueError, match="not a k3s release name"):
        pins.k3s_release(name)


def test_apply_deploys_the_server_before_its_agents_when_k3s_moves(tmp_path):
    from homelab.upgrade.apply import deploy_runs
    from homelab.upgrade.plan import Plan
    from tests.support import example_inventory

    inventory = example_inventory(tmp_path)
    moving = Plan(k3s_moves=[("gpu-node", V133, V134), ("gpu-node-2", V133, V134)])
    assert deploy_runs(inventory, moving) == [["--limit", "gpu-node"], ["--limit", "gpu-node-2"]]
    charts_only = Plan(pin_changes=[("vllm_stack_chart_version", "0.1.11", "0.1.12")])
    assert deploy_runs(inventory, charts_only) == [["--limit", "gpu-node", "--limit", "gpu-node-2"]]
