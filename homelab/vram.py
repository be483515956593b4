"""The VRAM planner: what each model needs on the one GPU, and the share of GPU memory
(vLLM's --gpu-memory-utilization) each pod gets so that together they fit.

A model needs   weights + KV cache + overhead
  KV cache    = kv_bytes_per_token x max_model_len x max_num_seqs
                (every running sequence may reach the full context)
  kv_bytes_per_token = 2 (K and V) x layers x KV heads x head size x 2 bytes

vLLM's utilisation is a fraction of the whole GPU; each pod's is its need divided by
the GPU's memory, rounded up to a hundredth, so that the sum stays within the GPU minus
the headroom Windows' desktop and the driver keep.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homelab import table

if TYPE_CHECKING:
    from homelab.settings import CatalogueModel

GIB = 1024**3


@dataclass(frozen=True)
class ModelShare:
    name: str
    weights_gib: float
    kv_bytes_per_token: int
    context_tokens: int  # max_model_len x max_num_seqs
    kv_gib: float
    overhead_gib: float
    need_gib: float
    utilization: float  # vLLM --gpu-memory-utilization


@dataclass(frozen=True)
class VramPlan:
    gpu_gib: float
    headroom_gib: float
    shares: list[ModelShare]

    @property
    def budget_gib(self) -> float:
        return self.gpu_gib - self.headroom_gib

    @property
    def need_gib(self) -> float:
        return sum(share.need_gib for share in self.shares)

    @property
    def utilization(self) -> float:
        return round(sum(share.utilization for share in self.shares), 2)

    @property
    def fits(self) -> bool:
        return self.utilization * self.gpu_gib <= self.budget_gib + 1e-9

    def share(self, name: str) -> ModelShare:
        return next(share for share in self.shares if share.name == name)

    def table(self) -> str:
        rows = [[s.name, f"{s.weights_gib:.2f} GiB", f"{s.kv_bytes_per_token // 1024} KiB", f"{s.context_tokens}",
                 f"{s.kv_gib:.2f} GiB", f"{s.overhead_gib:.2f} GiB", f"{s.need_gib:.2f} GiB", f"{s.utilization:.2f}"]
                for s in self.shares]
        rows.append(["total", "", "", "", "", "", f"{self.need_gib:.2f} GiB", f"{self.utilization:.2f}"])
        lines = table.render(["model", "weights", "KV/token", "context", "KV cache", "overhead", "needs", "GPU share"],
                             rows).split("\n")
        verdict = "fits" if self.fits else "DOES NOT FIT"
        lines.append(f"GPU {self.gpu_gib:.1f} GiB - headroom {self.headroom_gib:.1f} GiB = budget "
                     f"{self.budget_gib:.2f} GiB (share {self.budget_gib / self.gpu_gib:.2f}): {verdict}")
        return "\n".join(lines)

    def advice(self) -> str:
        """What to change when the plan does not fit."""
        over = self.utilization * self.gpu_gib - self.budget_gib
        biggest_kv = max(self.shares, key=lambda s: s.kv_gib)
        return (f"{over:.2f} GiB too much. Lower max_model_len or max_num_seqs of the models with the largest KV "
                f"cache ({biggest_kv.name}: {biggest_kv.kv_gib:.2f} GiB), set `enabled: False` on a model in "
                f"group_data/all.py, or lower gpu_vram_headroom_gib in group_data/gpu_nodes.py")


def plan(models: Iterable[CatalogueModel], gpu_gib: float, headroom_gib: float) -> VramPlan:
    shares = []
    for model in models:
        if not model.enabled:
            continue
        context = model.max_model_len * model.max_num_seqs
        kv_gib = model.kv_bytes_per_token * context / GIB
        need = model.weights_gib + kv_gib + model.overhead_gib
        utilization = math.ceil(need / gpu_gib * 100 - 1e-9) / 100
        shares.append(ModelShare(model.name, model.weights_gib, model.kv_bytes_per_token, context, kv_gib,
                                 model.overhead_gib, need, utilization))
    return VramPlan(gpu_gib, headroom_gib, shares)
