"""The RAM and CPU plan of each GPU node: a Windows PC that lends WSL2 part of its
memory and threads, and keeps the rest for Windows and its games.

Every pod the stack runs on the node asks for CPU and memory (homelab/stack: each
component's pods(ctx), the same Resources its manifests carry), and so do k3s's own
pods; k3s itself, WSL's kernel and its services need memory besides. The plan sums them:

  WSL memory     = pods' memory + k3s's pods + wsl_system_memory_gib, rounded up to GiB
  WSL processors = pc_threads - windows_threads, which must hold the pods' CPU requests

Memory is requested and capped at the same value, so the sum is what the AI side can
really take. Prefetch Jobs count too: they run while the engines already hold their
requests (waiting in their init containers), and the scheduler must fit both.
The result goes into .wslconfig (memory, processors, swap); a plan that does not fit
next to windows_memory_gib and windows_threads stops the run before any host is touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homelab import table
from homelab.settings import GpuNode
from homelab.stack.common import PodPlan, Resources, StackContext

if TYPE_CHECKING:
    from pyinfra.api.inventory import Inventory

# k3s's own pods, with the requests and limits of its packaged manifests (k3s-io/k3s,
# manifests/coredns.yaml and manifests/metrics-server/metrics-server-deployment.yaml at
# the pinned release; local-path-provisioner sets none and is counted at its request 0).
K3S_POD_RESOURCES = {
    "coredns": Resources(cpu=0.1, cpu_limit=0, memory_mib=170),
    "metrics-server": Resources(cpu=0.1, cpu_limit=0, memory_mib=70),
}


@dataclass(frozen=True)
class NodePlan:
    node: str
    cfg: GpuNode
    pods: list[PodPlan]
    system: dict[str, Resources]  # k3s's pods on this node

    @property
    def pod_memory_mib(self) -> int:
        return sum(p.memory_mib for p in self.pods)

    @property
    def pod_cpu(self) -> float:
        return sum(p.cpu for p in self.pods)

    @property
    def system_memory_mib(self) -> int:
        return sum(r.memory_mib for r in self.system.values()) + int(self.cfg.wsl_system_memory_gib * 1024)

    @property
    def cpu(self) -> float:
        return self.pod_cpu + sum(r.cpu for r in self.system.values())

    @property
    def wsl_memory_gib(self) -> int:
        """.wslconfig `memory`."""
        return math.ceil((self.pod_memory_mib + self.system_memory_mib) / 1024 - 1e-9)

    @property
    def wsl_processors(self) -> int:
        """.wslconfig `processors`."""
        return self.cfg.pc_threads - self.cfg.windows_threads

    @property
    def memory_budget_gib(self) -> float:
        return self.cfg.pc_memory_gib - self.cfg.windows_memory_gib

    @property
    def memory_fits(self) -> bool:
        return self.wsl_memory_gib <= self.memory_budget_gib + 1e-9

    @property
    def cpu_fits(self) -> bool:
        return self.wsl_processors >= 1 and self.cpu <= self.wsl_processors + 1e-9

    @property
    def fits(self) -> bool:
        return self.memory_fits and self.cpu_fits

    def wslconfig(self) -> dict[str, str]:
        """The [wsl2] keys this plan sets."""
        return {"memory": f"{self.wsl_memory_gib}GB", "processors": str(self.wsl_processors),
                "swap": f"{self.cfg.wsl_swap_gib}GB"}

    def table(self) -> str:
        rows = [[p.name, p.namespace, f"{p.cpu:.2f}", f"{p.memory_mib} MiB" + (" (once)" if p.transient else "")]
                for p in sorted(self.pods, key=lambda p: -p.memory_mib)]
        for name, r in self.system.items():
            rows.append([f"{name} (k3s)", "kube-system", f"{r.cpu:.2f}", f"{r.memory_mib} MiB"])
        rows.append(["k3s, WSL's kernel and services", "", "", f"{int(self.cfg.wsl_system_memory_gib * 1024)} MiB"])
        rows.append(["total", "", f"{self.cpu:.2f}", f"{self.pod_memory_mib + self.system_memory_mib} MiB"])
        lines = table.render(["pod", "namespace", "CPU", "memory"], rows).split("\n")
        cfg = self.cfg
        lines.append(f"PC {cfg.pc_memory_gib:g} GiB - Windows {cfg.windows_memory_gib:g} GiB = "
                     f"{self.memory_budget_gib:g} GiB for WSL; the stack needs {self.wsl_memory_gib} GiB: "
                     f"{'fits' if self.memory_fits else 'DOES NOT FIT'}")
        lines.append(f"PC {cfg.pc_threads} threads - Windows {cfg.windows_threads} = {self.wsl_processors} for WSL; "
                     f"pods request {self.cpu:.2f}: {'fits' if self.cpu_fits else 'DOES NOT FIT'}")
        lines.append(".wslconfig [wsl2]: " + ", ".join(f"{k}={v}" for k, v in self.wslconfig().items()))
        return "\n".join(lines)

    def advice(self) -> str:
        fixes = []
        if not self.memory_fits:
            over = self.wsl_memory_gib - self.memory_budget_gib
            biggest = max(self.pods, key=lambda p: p.memory_mib)
            fixes.append(f"{over:g} GiB of memory too much: lower host_memory_gib or lmcache_cpu_gib of a model "
                         f"(biggest pod: {biggest.name}, {biggest.memory_mib} MiB), set `enabled: False` on a model or "
                         "switch off monitoring/Open WebUI, or lower windows_memory_gib if the PC has it to spare")
        if not self.cpu_fits:
            fixes.append(f"CPU requests {self.cpu:.2f} exceed the {self.wsl_processors} threads WSL gets: lower a "
                         "model's cpu, or windows_threads")
        return "; ".join(fixes) + " (group_data/all.py, group_data/gpu_nodes.py)"


def plan(ctx: StackContext) -> dict[str, NodePlan]:
    """Every GPU node's plan, from the stack context (homelab.stack.common.StackContext)."""
    from homelab.stack import manifests

    pods = manifests.pods(ctx)
    plans = {}
    for node, cfg in ctx.nodes.items():
        # k3s runs its own pods on the server
        system = dict(K3S_POD_RESOURCES) if node == ctx.node_name else {}
        plans[node] = NodePlan(node, cfg, [p for p in pods if p.node == node], system)
    return plans


def plan_for(inventory: Inventory) -> dict[str, NodePlan]:
    """Every GPU node's plan for an inventory (from settings alone: no secrets needed)."""
    from homelab import k3s
    from homelab.host_settings import settings_for
    from homelab.stack.common import StackContext

    return plan(StackContext(nodes={h.name: settings_for(h, GpuNode) for h in k3s.gpu_nodes(inventory)}))
