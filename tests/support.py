"""Running deploys through pyinfra's CLI against the lab, and asserting what they did."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


@dataclass
class DeployRun:
    returncode: int
    stdout: str
    stderr: str
    payload: dict = field(default_factory=dict)

    @property
    def totals(self) -> dict:
        return (self.payload.get("results") or {}).get("totals", {})

    @property
    def changes(self) -> int:
        return self.totals.get("success", 0)

    @property
    def failed_hosts(self) -> list[str]:
        return (self.payload.get("results") or {}).get("failed_hosts", [])

    @property
    def plan(self) -> list[dict]:
        return self.payload.get("plan") or []

    def changed_operations(self, host: str | None = None) -> list[str]:
        """Names of operations that changed something (on `host`, if given)."""
        ops = (self.payload.get("results") or {}).get("operations", [])
        return [op["name"] for op in ops if op["success"] and (host is None or host in op["success"])]

    def planned_changes(self, host: str) -> list[str]:
        return [op["name"] for op in self.plan if host in op["hosts_with_change"]]

    def explain(self) -> str:
        return f"exit {self.returncode}\n--- stderr ---\n{self.stderr[-6000:]}\n--- totals: {self.totals}"


def run_deploy(deploy: str, inventory: str | Path, *extra: str, limit: str | list[str] | None = None, dry: bool = False,
               cwd: Path = PROJECT_ROOT, env: dict | None = None, timeout: int = 900) -> DeployRun:
    """`pyinfra <inventory> deploys/<deploy>.py --json -y` and its parsed result."""
    path = deploy if deploy.endswith(".py") else f"deploys/{deploy}.py"
    cmd = [PYINFRA, str(inventory), str(PROJECT_ROOT / path), "--json", "-y", *extra]
    for pattern in ([limit] if isinstance(limit, str) else limit or []):
        cmd += ["--limit", pattern]
    if dry:
        cmd.append("--dry")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    payload = {}
    start = proc.stdout.find("{")
    if start >= 0:
        try:
            payload = json.loads(proc.stdout[start:])
        except json.JSONDecodeError:
            payload = {}
    run = DeployRun(proc.returncode, proc.stdout, proc.stderr, payload)
    _assert_no_secret_printed(run, inventory)
    return run


def _assert_no_secret_printed(run: DeployRun, inventory) -> None:
    """Every run: no value of the lab's secrets store appears in pyinfra's output."""
    for store in {Path(inventory).parent / "secrets.yaml", PROJECT_ROOT / ".lab" / "secrets.yaml"}:
        if not store.exists():
            continue
        for name, value in (yaml.safe_load(store.read_text()) or {}).items():
            # the whole value, and each long line of a multi-line one (a key's PEM)
            for part in {str(value), *(line.strip() for line in str(value).splitlines()
                                       if len(line.strip()) >= 16 and not line.startswith("-----"))}:
                assert part not in run.stdout and part not in run.stderr, f"secret {name} appeared in pyinfra's output"


def assert_converges(deploy: str, inventory, *extra: str, limit: str | list[str] | None = None,
                     expect_changes=True) -> DeployRun:
    run = run_deploy(deploy, inventory, *extra, limit=limit)
    assert run.returncode == 0, run.explain()
    assert run.totals.get("error") == 0 and not run.failed_hosts, run.explain()
    if expect_changes:  # None: either way (a host that may already be converged)
        assert run.changes > 0, f"a deploy on a fresh host changed nothing\n{run.explain()}"
    return run


def assert_idempotent(deploy: str, inventory, *extra: str, limit: str | list[str] | None = None) -> DeployRun:
    run = run_deploy(deploy, inventory, *extra, limit=limit)
    assert run.returncode == 0, run.explain()
    assert run.changes == 0, f"second run changed: {run.changed_operations()}\n{run.explain()}"
    assert run.totals.get("no_change", 0) > 0, run.explain()
    return run


def assert_repairs(deploy: str, inventory, host: str, *extra: str, limit: str | list[str] | None = None) -> DeployRun:
    """After someone broke `host`: the next run changes it back (then is idempotent again)."""
    run = run_deploy(deploy, inventory, *extra, limit=limit)
    assert run.returncode == 0, run.explain()
    assert run.changed_operations(host), f"nothing was repaired on {host}\n{run.explain()}"
    assert_idempotent(deploy, inventory, *extra, limit=limit)
    return run


def inventory_variant(lab, directory: Path, overrides: dict[str, dict], remove: dict[str, list[str]] | None = None,
                      move: dict[str, str] | None = None) -> Path:
    """A copy of the lab inventory with some hosts' data changed or removed (by host name,
    so that group data applies again for removed keys), or hosts moved to another group."""
    text = lab.inventory_file.read_text()
    tail = "check_inventory_file(__file__)"
    block = (f"_overrides = {overrides!r}\n_remove = {remove or {}!r}\n_move = {move or {}!r}\n"
             "_groups = {'gpu_nodes': gpu_nodes, 'le_potato': le_potato, 'termux_phones': termux_phones,\n"
             "           'ipads': ipads, 'macbook': macbook}\n"
             "for _group in _groups.values():\n"
             "    for _name, _data in _group:\n"
             "        _data.update(_overrides.get(_name, {}))\n"
             "        for _key in _remove.get(_name, []):\n"
             "            _data.pop(_key, None)\n"
             "for _name, _target in _move.items():\n"
             "    for _group in _groups.values():\n"
             "        for _entry in [e for e in _group if e[0] == _name]:\n"
             "            _group.remove(_entry)\n"
             "            _groups[_target].append(_entry)\n\n")
    path = Path(directory) / "inventory.py"
    path.write_text(text.replace(tail, block + tail))
    return path


def example_inventory(directory: Path, second_gpu_node: bool = True):
    """The project's example inventory.py (no lab), loaded from `directory`, with a second
    GPU node (a k3s agent) "gpu-node-2" unless told otherwise."""
    from homelab.inventory_loading import load_inventory

    text = (PROJECT_ROOT / "inventory.py").read_text()
    if second_gpu_node:
        text = text.replace(
            '"wol_mac": "a8:a1:59:01:23:45"}),\n]',
            '"wol_mac": "a8:a1:59:01:23:45"}),\n    ("gpu-node-2", {"ssh_hostname": "192.168.1.51", "ssh_user": '
            '"owner", "lan_address": "192.168.1.51"}),\n]')
        assert "gpu-node-2" in text
    (directory / "inventory.py").write_text(text)
    return load_inventory(directory / "inventory.py", cwd=PROJECT_ROOT)


def planned_commands(inventory, deploy: str, host: str) -> dict[str, list[str]]:
    """The commands `deploy` would run on `host` (nothing is executed); see plan_commands.py."""
    path = deploy if deploy.endswith(".py") else f"deploys/{deploy}.py"
    proc = subprocess.run([sys.executable, str(PROJECT_ROOT / "tests" / "plan_commands.py"), str(inventory),
                           str(PROJECT_ROOT / path), host], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


MANIFESTS_DIR = "/var/lib/rancher/k3s/server/manifests"


def landed_manifests(lab, node: str = "gpu-node") -> dict[str, tuple[str, list[dict]]]:
    """{file name: (text, [objects])} of every manifest the deploy wrote on `node`."""
    names = lab.ssh(node, f"ls {MANIFESTS_DIR}", sudo=True).stdout.split()
    out = {}
    for name in names:
        text = lab.ssh(node, f"cat {MANIFESTS_DIR}/{name}", sudo=True).stdout
        out[name] = (text, [o for o in yaml.safe_load_all(text) if o])
    return out


def catalogue(**overrides) -> list[dict]:
    """group_data/all.py's model catalogue, each entry with `overrides` (None removes a key)."""
    import runpy

    models = runpy.run_path(str(PROJECT_ROOT / "group_data" / "all.py"))["models"]
    changed = []
    for entry in models:
        entry = {**entry, **overrides}
        changed.append({k: v for k, v in entry.items() if v is not None})
    return changed


# -- the stand-in k3s's answers (there is no Kubernetes in the lab) -----------------------

KUBECTL = "/var/lib/homelab-lab/kubectl"  # where the stand-in k3s finds its answers


def kubectl_answers(lab, nodes: dict, pods: dict, helmcharts: dict | None = None) -> None:
    """STAND-IN answers of the Kubernetes API for `kubectl get nodes|pods|helmcharts -o json`."""
    answers = [("nodes", nodes), ("pods", pods)] + ([("helmcharts", helmcharts)] if helmcharts is not None else [])
    for kind, answer in answers:
        lab.ssh("gpu-node", f"mkdir -p {KUBECTL} && printf %s {shlex.quote(json.dumps(answer))} > "
                            f"{KUBECTL}/get-{kind}.json", sudo=True)


def node(name, ready=True, gpus="4"):
    return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": str(ready)}],
                                                    "allocatable": {"nvidia.com/gpu": gpus}}}


def helmchart(name, failed=False):
    """A HelmChart as helm-controller v0.16 reports it (status.jobName, conditions)."""
    conditions = [{"type": "JobCreated", "status": "True", "reason": "Job created"}]
    if failed:
        conditions.append({"type": "Failed", "status": "True", "reason": "Job failed",
                           "message": "Job has reached configured number of retries without succeeding"})
    return {"metadata": {"name": name, "namespace": "kube-system"},
            "status": {"jobName": f"helm-install-{name}", "conditions": conditions}}


def pod(namespace, name, phase="Running", ready=True):
    return {"metadata": {"namespace": namespace, "name": name},
            "status": {"phase": phase, "containerStatuses": [{"ready": ready}]}}
