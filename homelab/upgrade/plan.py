"""What a deploy of group data's pins would change on the GPU nodes, compared with what
they run (homelab.upgrade.deployed): both sides rendered with real Helm and the vendored
chart archives, then compared object by object and field by field (deepdiff), with the
images, CRDs and restarts that follow, the risky changes named and the k3s moves that
are refused (a skipped minor, a downgrade, an agent newer than the server)."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from deepdiff import DeepDiff

from homelab import k3s, pins
from homelab.components.ai_stack import stack_context
from homelab.host_settings import settings_for
from homelab.settings import GpuNode
from homelab.stack import helm_render, manifests, vllm
from homelab.stack.helm_render import Rendered, RenderError
from homelab.upgrade.deployed import Deployed

if TYPE_CHECKING:
    from pyinfra.api.inventory import Inventory

# A rough engine start on the PC (model read from the local cache, CUDA graphs captured);
# `python tasks.py bench wake` measures the real figure on the lab.
ENGINE_BASE_SECONDS = 45
ENGINE_SECONDS_PER_GIB = 10
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
VOLUMES = ("PersistentVolume", "PersistentVolumeClaim")
MAX_FIELDS = 12  # per object in the text; the JSON has them all
RELEASE_LABELS = {"helm.sh/chart", "chart", "app.kubernetes.io/version", "version"}


def is_release_label(field_line: str) -> bool:
    path = field_line.split(": ", 1)[0]
    return any(path.removeprefix(prefix) in RELEASE_LABELS
               for prefix in ("metadata.labels.", "spec.template.metadata.labels."))


@dataclass(frozen=True)
class ObjectChange:
    component: str  # the manifest file it comes from
    kind: str
    namespace: str
    name: str
    change: str  # added, removed, changed
    fields: tuple[str, ...] = ()  # "path: old -> new" for a changed object

    @property
    def release_labels_only(self) -> bool:
        """Only the chart and version labels Helm stamps on every object change."""
        return bool(self.fields) and all(is_release_label(f) for f in self.fields)

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}" + (f" in {self.namespace}" if self.namespace else "")


@dataclass(frozen=True)
class EngineReload:
    node: str
    model: str
    seconds: int  # rough start time; 0: on demand, loads at its next request


@dataclass
class Plan:
    pin_changes: list[tuple[str, Any, Any]] = field(default_factory=list)  # (pin, recorded, pinned)
    k3s_moves: list[tuple[str, str | None, str]] = field(default_factory=list)  # (node, running, pinned)
    toolkit_moves: list[tuple[str, str | None, str]] = field(default_factory=list)
    objects: list[ObjectChange] = field(default_factory=list)
    images_added: list[str] = field(default_factory=list)
    images_removed: list[str] = field(default_factory=list)
    crds: list[str] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)
    engines: list[EngineReload] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)  # applied only when accepted (--accept-risk)
    refusals: list[str] = field(default_factory=list)  # never applied
    notes: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = None  # the pins the server recorded: the way back
    wanted_pins: dict[str, Any] = field(default_factory=dict)

    @property
    def changes_anything(self) -> bool:
        return bool(self.objects or self.k3s_moves or self.toolkit_moves or self.pin_changes)

    @property
    def ai_down_seconds(self) -> int:
        """Engines on one GPU start one after another: per node their sum, the longest node."""
        per_node: dict[str, int] = {}
        for engine in self.engines:
            per_node[engine.node] = per_node.get(engine.node, 0) + engine.seconds
        return max(per_node.values(), default=0)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ai_down_seconds"] = self.ai_down_seconds
        data["changes_anything"] = self.changes_anything
        return data


# -- rendering and comparing ------------------------------------------------------------------

CRD = "CustomResourceDefinition"


def render(files: dict[str, list[dict[str, Any]]], helm: str, notes: list[str], side: str) -> list[Rendered]:
    """Every object of `files`, the CRDs the charts install among them; a HelmChart whose
    chart is not vendored stays itself (noted)."""
    out: list[Rendered] = []
    for file_name, objects in files.items():
        for obj in objects:
            if obj.get("kind") != "HelmChart":
                out.append(Rendered(obj, file_name))
                continue
            try:
                out += [Rendered(o, file_name) for o in helm_render.helm_template(obj, helm, include_crds=True)]
            except RenderError as exc:
                notes.append(f"{side}: {obj['metadata']['name']} not rendered ({exc}); its HelmChart is compared "
                             "instead")
                out.append(Rendered(obj, file_name))
    return out


def _key(item: Rendered) -> tuple[str, str, str, str]:
    namespace = str((item.obj.get("metadata") or {}).get("namespace") or "")
    return item.source, item.kind, namespace, item.name


class _Masked:
    """A Secret's values compared by a keyed hash made for this plan only: a change shows,
    the value never does."""

    def __init__(self) -> None:
        self.key = os.urandom(32)

    def __call__(self, obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("kind") != "Secret":
            return obj
        masked = dict(obj)
        for part in ("data", "stringData"):
            if isinstance(obj.get(part), dict):
                masked[part] = {k: "hidden:" + hmac.new(self.key, str(v).encode(), hashlib.sha256).hexdigest()[:12]
                                for k, v in obj[part].items()}
        return masked


def _path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _short(value: Any) -> str:
    if value is None or type(value).__name__ == "NotPresent":
        return "(none)"
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list):
        return "[...]"
    text = str(value)
    if text.startswith("hidden:"):
        return "(secret value)"
    text = text.replace("\n", "\\n")
    return text if len(text) <= 70 else text[:67] + "..."


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[list[Any], Any, Any]]:
    """(path as a list, old value, new value) of every leaf that differs."""
    diff = DeepDiff(old, new, view="tree")
    found = []
    for levels in diff.values():
        for level in levels:
            found.append((level.path(output_format="list"), level.t1, level.t2))
    return sorted(found, key=lambda item: [str(p) for p in item[0]])


def compare(old: list[Rendered], new: list[Rendered]) -> list[ObjectChange]:
    mask = _Masked()
    before = {_key(item): mask(item.obj) for item in old}
    after = {_key(item): mask(item.obj) for item in new}
    changes = []
    for key in sorted(before.keys() | after.keys()):
        source, kind, namespace, name = key
        if key not in before:
            changes.append(ObjectChange(source, kind, namespace, name, "added"))
        elif key not in after:
            changes.append(ObjectChange(source, kind, namespace, name, "removed"))
        elif before[key] != after[key]:
            # a CRD's change is its schema: thousands of lines no one reads in a plan
            fields = () if kind == CRD else tuple(f"{_path(path)}: {_short(was)} -> {_short(now)}"
                                                  for path, was, now in field_changes(before[key], after[key]))
            changes.append(ObjectChange(source, kind, namespace, name, "changed", fields))
    return changes


def _touches(change: ObjectChange, prefix: str) -> bool:
    return any(f.startswith(prefix + ".") or f.startswith(prefix + "[") or f.startswith(prefix + ":")
               for f in change.fields)


# -- k3s order and skew -----------------------------------------------------------------------

def k3s_refusals(server: str, running: dict[str, str | None], pinned: dict[str, str]) -> list[str]:
    """What k3s does not support, each with its fix: a downgrade, a skipped minor, an agent
    newer than the server (pinned, or already running)."""
    refusals = []
    server_pin = pins.k3s_release(pinned[server])
    for node, version in pinned.items():
        release = pins.k3s_release(version)
        if node != server and release > server_pin:
            refusals.append(f"{node}: k3s_version {version} is newer than the server's {pinned[server]}: an agent "
                            "is never newer than the server; pin the agents at or below the server's release")
        now = running.get(node)
        if now is None:
            continue
        current = pins.k3s_release(now)
        problem = pins.k3s_step_problem(now, version)
        if problem:
            refusals.append(f"{node}: {problem}")
        if node != server and current > server_pin:
            refusals.append(f"{node}: runs k3s {now}, newer than the {pinned[server]} the server would run: an "
                            "agent is never newer than the server; pin the server at or above it")
    return refusals


# -- the plan ---------------------------------------------------------------------------------

def engine_reloads(ctx_models: dict[str, tuple[str, Any]], changes: list[ObjectChange]) -> list[EngineReload]:
    reloads = []
    for change in changes:
        if change.kind != "Deployment" or change.name not in ctx_models or change.change == "removed":
            continue
        if change.change == "changed" and not _touches(change, "spec.template"):
            continue
        node, model = ctx_models[change.name]
        seconds = 0 if model.on_demand else int(ENGINE_BASE_SECONDS + ENGINE_SECONDS_PER_GIB * model.weights_gib)
        reloads.append(EngineReload(node, model.name, seconds))
    return reloads


def make_plan(inventory: Inventory, deployed: Deployed, helm: str | None = None) -> Plan:
    helm = helm or helm_render.helm_binary()
    server = k3s.server_host(inventory)
    cfg = settings_for(server, GpuNode)
    plan = Plan(record=deployed.record, wanted_pins=pins.pins_of(cfg))
    if deployed.record is None:
        plan.notes.append(f"{server.name} has no pins recorded ({pins.RECORD}): deployed before upgrades were "
                          "recorded, or never; the plan compares what the hosts run, and a failed apply has no "
                          "recorded pins to go back to (the backup stays the way back)")
    else:
        plan.pin_changes = [(name, deployed.record.get(name), plan.wanted_pins[name]) for name in pins.PINS
                            if deployed.record.get(name) != plan.wanted_pins[name]]
        plan.notes += pins.lonely_moves(deployed.record, plan.wanted_pins)

    nodes = {node.name: settings_for(node, GpuNode) for node in k3s.gpu_nodes(inventory)}
    running = {n.name: n.k3s_version for n in deployed.nodes}
    for runs in deployed.nodes:
        if runs.k3s_version != nodes[runs.name].k3s_version:
            plan.k3s_moves.append((runs.name, runs.k3s_version, nodes[runs.name].k3s_version))
        wanted_toolkit = nodes[runs.name].nvidia_toolkit_version
        if runs.toolkit_version != wanted_toolkit:
            plan.toolkit_moves.append((runs.name, runs.toolkit_version, wanted_toolkit))
    plan.refusals += k3s_refusals(server.name, running, {name: c.k3s_version for name, c in nodes.items()})

    ctx = stack_context(server, inventory)
    wanted = manifests.wanted(ctx)
    old = render(deployed.manifests, helm, plan.notes, "deployed")
    new = render(wanted, helm, plan.notes, "pinned")
    plan.objects = compare(old, new)
    old_images, new_images = set(helm_render.images(old)), set(helm_render.images(new))
    plan.images_added = sorted(new_images - old_images)
    plan.images_removed = sorted(old_images - new_images)
    plan.crds = [f"{c.component}: {c.name} {c.change}" for c in plan.objects if c.kind == CRD]

    engines = {vllm.engine_deployment(m): (node, m) for node in ctx.nodes for m in ctx.models_on(node)}
    plan.engines = engine_reloads(engines, plan.objects)
    for change in plan.objects:
        if change.kind in WORKLOADS and (change.change != "changed" or _touches(change, "spec.template")):
            verb = {"added": "starts", "removed": "stops", "changed": "restarts"}[change.change]
            plan.restarts.append(f"{change.label} {verb}")
        if change.kind in VOLUMES:
            plan.risks.append(f"{change.label} is {change.change}: a volume holds models or data, and a claim's "
                              "spec cannot change in place (take a backup, check the chart's upgrade notes)")
        if change.kind in WORKLOADS and change.change == "changed" and _touches(change, "spec.selector"):
            plan.risks.append(f"{change.label}: its selector changes, which Kubernetes does not allow in place: "
                              "the Helm upgrade fails until the object is deleted (its pods go with it)")
        claims = _touches(change, "spec.volumeClaimTemplates")
        if change.kind == "StatefulSet" and change.change == "changed" and claims:
            plan.risks.append(f"{change.label}: its volumeClaimTemplates change (immutable): the upgrade fails "
                              "until the StatefulSet is deleted with --cascade=orphan")
    if plan.crds:
        plan.risks.append(f"{len(plan.crds)} CRDs change (under CRDs): Helm installs a chart's CRDs but never "
                          "upgrades them; apply the new ones first (`helm show crds <chart archive> | kubectl apply "
                          "--server-side -f -`), or the operator meets objects its CRDs do not know")
    for node_name, was, now in plan.k3s_moves:
        if was is not None:
            plan.notes.append(f"{node_name}: k3s {was} -> {now}: k3s cannot be downgraded; if the upgrade fails, the "
                              "way back is the backup apply takes first (`python tasks.py restore`)")
    return plan


# -- the text ---------------------------------------------------------------------------------

def format_plan(plan: Plan) -> str:
    lines: list[str] = []
    if plan.refusals:
        lines += ["REFUSED (fix these first):", *(f"  - {r}" for r in plan.refusals), ""]
    if not plan.changes_anything:
        lines.append("Nothing to upgrade: the GPU nodes run what group data pins.")
    if plan.pin_changes:
        lines.append("Pins (recorded on the server -> group data):")
        lines += [f"  {name}: {pins.shown(was)} -> {pins.shown(now)}" for name, was, now in plan.pin_changes]
    for title, moves in (("k3s", plan.k3s_moves), ("NVIDIA Container Toolkit", plan.toolkit_moves)):
        if moves:
            lines.append(f"{title} (running -> pinned):")
            lines += [f"  {node}: {was or 'not installed'} -> {now}" for node, was, now in moves]
    components: dict[str, list[ObjectChange]] = {}
    for change in plan.objects:
        components.setdefault(change.component, []).append(change)
    for component, changes in components.items():
        lines.append(f"{component}.yaml:")
        stamped = [c for c in changes if c.release_labels_only]
        if stamped:
            lines.append(f"  changed  {len(stamped)} objects only in their chart and version labels: "
                         + ", ".join(c.label.split(" in ")[0] for c in stamped[:6])
                         + (", ..." if len(stamped) > 6 else ""))
        for change in changes:
            if change.release_labels_only or change.kind == CRD:
                continue
            lines.append(f"  {change.change:<8} {change.label}")
            shown = [f for f in change.fields if not is_release_label(f)]
            lines += [f"             {f}" for f in shown[:MAX_FIELDS]]
            if len(shown) > MAX_FIELDS:
                lines.append(f"             ... and {len(shown) - MAX_FIELDS} more fields (--json)")
            if len(shown) < len(change.fields):
                lines.append("             (and its chart and version labels)")
    if plan.images_added or plan.images_removed:
        lines.append("Images (an offline install needs the new archives: `python tasks.py images --artifacts DIR`):")
        lines += [f"  + {image}" for image in plan.images_added] + [f"  - {image}" for image in plan.images_removed]
    if plan.crds:
        lines += ["CRDs:", *(f"  {c}" for c in plan.crds)]
    if plan.restarts:
        lines += ["Restarts:", *(f"  {r}" for r in plan.restarts)]
    if plan.restarts and not plan.engines:
        lines.append("Engines: none reloads; the models keep answering while the rest restarts")
    if plan.engines:
        lines.append("Engines:")
        lines += [f"  {e.model} on {e.node}: " + (f"reloads, about {e.seconds} s" if e.seconds
                                                   else "on demand: loads at its next request")
                  for e in plan.engines]
        lines.append(f"  the AI side is down for roughly {plan.ai_down_seconds} s (engines on a GPU start one "
                     "after another)")
    if plan.risks:
        lines += ["RISKY (apply needs --accept-risk):", *(f"  - {r}" for r in plan.risks)]
    if plan.notes:
        lines += ["Notes:", *(f"  - {n}" for n in plan.notes)]
    return "\n".join(lines)
