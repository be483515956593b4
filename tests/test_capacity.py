"""The RAM and CPU planner (homelab/capacity.py), against figures worked out by hand.
That its per-pod figures are what the rendered charts request is shown in
tests/components/test_cluster_render.py."""

from homelab import capacity
from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.stack.common import PodPlan, Resources, cpu_quantity
from tests.support import PROJECT_ROOT


def node_cfg(**changes):
    cfg = settings_for(load_inventory(PROJECT_ROOT / "inventory.py", cwd=PROJECT_ROOT).get_host("gpu-node"))
    return cfg.model_copy(update=changes)


def test_a_pod_reserves_the_larger_of_its_containers_and_any_init_container():
    pod = PodPlan("p", "ns", {"a": Resources(0.5, 1, 512), "b": Resources(0.25, 1, 256)},
                  {"init": Resources(1.0, 1, 128)})
    assert pod.cpu == 1.0 and pod.memory_mib == 768


def test_wsl_gets_the_pods_k3s_and_its_own_share_rounded_up():
    cfg = node_cfg(pc_memory_gib=16, windows_memory_gib=6, pc_threads=8, windows_threads=2, wsl_system_memory_gib=1.5,
                   wsl_swap_gib=4)
    pods = [PodPlan("engine", "ai", {"vllm": Resources(2, 4, 6144)}),
            PodPlan("proxy", "ai", {"c": Resources(0.5, 1, 1000)})]
    plan = capacity.NodePlan("pc", cfg, pods, dict(capacity.K3S_POD_RESOURCES))
    # 6144 + 1000 + 170 + 70 + 1536 = 8920 MiB = 8.71 GiB -> 9
    assert plan.wsl_memory_gib == 9 and plan.memory_budget_gib == 10 and plan.memory_fits
    # 2 + 0.5 + 0.1 + 0.1 requested of 8 - 2 = 6 processors
    assert round(plan.cpu, 2) == 2.7 and plan.wsl_processors == 6 and plan.cpu_fits
    assert plan.wslconfig() == {"memory": "9GB", "processors": "6", "swap": "4GB"}


def test_too_little_left_for_wsl_does_not_fit_and_says_what_to_change():
    cfg = node_cfg(pc_memory_gib=16, windows_memory_gib=10, pc_threads=4, windows_threads=2)
    plan = capacity.NodePlan("pc", cfg, [PodPlan("engine", "ai", {"vllm": Resources(3, 4, 8192)})], {})
    assert not plan.fits and "DOES NOT FIT" in plan.table()
    advice = plan.advice()
    assert "4 GiB of memory too much" in advice and "biggest pod: engine, 8192 MiB" in advice
    assert "CPU requests 3.00 exceed the 2 threads WSL gets" in advice


def test_the_sites_plan_counts_every_switched_on_component():
    cfg = node_cfg()
    from homelab.stack.common import StackContext

    full = capacity.plan(StackContext(nodes={"gpu-node": cfg}))["gpu-node"]
    lean = capacity.plan(StackContext(nodes={"gpu-node": cfg.model_copy(
        update={"monitoring_enabled": False, "open_webui_enabled": False})}))["gpu-node"]
    gone = {p.name for p in full.pods} - {p.name for p in lean.pods}
    assert gone == {"open-webui", "kube-prometheus-stack-prometheus", "kube-prometheus-stack-operator",
                    "kube-prometheus-stack-kube-state-metrics", "kube-prometheus-stack-grafana",
                    "kube-prometheus-stack-prometheus-node-exporter"}
    assert lean.wsl_memory_gib < full.wsl_memory_gib


def test_cpu_quantities_are_kubernetes_quantities():
    assert [cpu_quantity(c) for c in (0.1, 0.25, 1, 2.0, 0.01, 1.5)] == ["100m", "250m", "1", "2", "10m", "1500m"]


def test_the_server_counts_k3s_own_pods_and_an_agent_does_not():
    from pathlib import Path

    import yaml

    from homelab.stack.common import StackContext

    packaged = yaml.safe_load((Path(__file__).parent / "fixtures" / "k3s_packaged_pods.yaml").read_text())

    def mib(quantity: str) -> int:
        return int(quantity.removesuffix("Mi"))

    memory = sum(mib((pod.get("limits") or pod["requests"])["memory"]) for pod in packaged.values())
    cpu = sum(int(pod["requests"]["cpu"].removesuffix("m")) / 1000 for pod in packaged.values())
    cfg = node_cfg()
    plans = capacity.plan(StackContext(nodes={"gpu-node": cfg, "gpu-node-2": cfg}))
    server, agent = plans["gpu-node"], plans["gpu-node-2"]
    assert set(server.system) == set(packaged)
    assert server.system_memory_mib == memory + int(cfg.wsl_system_memory_gib * 1024)
    assert round(server.cpu - server.pod_cpu, 3) == round(cpu, 3)
    assert "coredns (k3s)" in server.table() and "metrics-server (k3s)" in server.table()
    assert agent.system == {} and agent.system_memory_mib == int(cfg.wsl_system_memory_gib * 1024)
