"""`python tasks.py doctor`: a read-only look at every device, one SSH round trip each.

Each check says what is right or wrong and, when wrong, how to fix it. Nothing is
changed on any host: the probe only reads (and asks kubectl, which reads).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from pyinfra.api.host import Host

from homelab import gpu_mode, host_state, k3s, tunnel_peers, watcher
from homelab import usage as tenant_usage
from homelab.client_setup import api_base_url_for, tls_verify
from homelab.components.gpu_check import gpu_problem
from homelab.host_settings import role_of, secrets_store, settings_for
from homelab.host_state import Query
from homelab.secrets_store import SecretsStore
from homelab.settings import Common, DebianHost, GpuNode, LePotato, TermuxPhone
from homelab.ssh import ssh_command, sudo_prefix
from homelab.stack.common import StackContext
from homelab.stack.device_plugin import gpu_shares
from homelab.stack.litellm import USAGE_FILE

DISK_FULL_PERCENT = 90
MARK = "=====homelab-doctor:"


@dataclass(frozen=True)
class Check:
    device: str
    check: str
    ok: bool
    detail: str
    fix: str = ""


def disk_path(cfg: Common) -> str | None:
    """The path whose filesystem fills up first on this device."""
    if isinstance(cfg, GpuNode):
        return cfg.model_cache_path
    return cfg.apt_cache_dir if isinstance(cfg, LePotato) else None


LE_POTATO_SERVICES = ("prometheus-node-exporter", "apt-cacher-ng")
WATCHER_SERVICES = ("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")


def _watching(cfg: Common) -> bool:
    return isinstance(cfg, LePotato) and cfg.watcher_enabled


def probe_script(cfg: Common) -> str:
    """One shell script per host; sections start with MARK<name>. The machine's state
    comes from the deploys' own probe (homelab.host_state)."""
    path = disk_path(cfg)
    units = {*LE_POTATO_SERVICES, *(WATCHER_SERVICES if _watching(cfg) else ())} if isinstance(cfg, LePotato) else set()
    query = Query(gpu=isinstance(cfg, GpuNode), disks={path} if path else set(), units=units)
    sections = {"state": host_state.probe_script(query)}
    sudo = sudo_prefix(cfg)
    if isinstance(cfg, GpuNode):
        sections.update(cluster_sections(cfg))
        sections["usage"] = f"{sudo}cat {USAGE_FILE} 2>/dev/null || echo '{{}}'"
        sections["gpu_mode"] = f"cat {gpu_mode.STATE_DIR}/state.json 2>/dev/null || true"
        sections["gpu_marker"] = f"[ -e {gpu_mode.PAUSED_MARKER} ] && echo present || echo absent"
        sections["models"] = f"cat {gpu_mode.STATE_DIR}/models.json 2>/dev/null || true"
    if _watching(cfg):
        sections["alerts"] = f"{watcher.TOOL} --json 2>&1"
    if isinstance(cfg, LePotato) and tunnel_peers.enabled(cfg):
        sections["tunnel"] = f"{sudo}wg show {tunnel_peers.INTERFACE} latest-handshakes 2>&1"
    return sections_script(sections)


def cluster_sections(cfg: GpuNode) -> dict[str, str]:
    """What the server's kubectl says of the nodes, pods and Helm releases (cluster_checks)."""
    sudo = sudo_prefix(cfg)
    return {"nodes": f"{sudo}{k3s.BINARY} kubectl get nodes -o json 2>&1",
            "pods": f"{sudo}{k3s.BINARY} kubectl get pods -A -o json 2>&1",
            "helmcharts": f"{sudo}{k3s.BINARY} kubectl get helmcharts -A -o json 2>&1"}


def sections_script(sections: dict[str, str]) -> str:
    """One shell script running each section's command after its MARK line."""
    # each marker on a line of its own, even after output without a final newline
    return "; ".join(f"printf '\\n%s\\n' '{MARK}{name}'; {script}" for name, script in sections.items())


def parse_sections(output: str) -> dict[str, str]:
    sections, current = {}, None
    for line in output.splitlines():
        if line.startswith(MARK):
            current = line[len(MARK):]
            sections[current] = ""
        elif current:
            sections[current] += line + "\n"
    return sections


def _disk_check(device: str, what: str, usage: dict[str, Any] | None, fix: str) -> Check:
    if usage is None:
        return Check(device, what, False, "df did not answer", fix)
    used = usage["used_percent"]
    detail = f"{used}% used, {usage['avail_kb'] // 1024 // 1024} GiB free on {usage['mount']}"
    return Check(device, what, used < DISK_FULL_PERCENT, detail, fix if used >= DISK_FULL_PERCENT else "")


def _k3s_checks(device: str, cfg: GpuNode, sections: dict[str, str]) -> list[Check]:
    try:
        nodes = json.loads(sections.get("nodes", ""))["items"]
    except (ValueError, KeyError):
        first = (sections.get("nodes") or "no answer").strip().splitlines()[0][:120]
        return [Check(device, "k3s Ready", False, f"kubectl did not answer: {first}",
                      "sudo systemctl status k3s; sudo journalctl -u k3s -e (then re-run the GPU node deploy)")]
    checks = []
    for node in nodes:
        name = node["metadata"]["name"]
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
        checks.append(Check(device, f"k3s node {name} Ready", ready, "Ready" if ready else "NotReady",
                            "" if ready else "sudo journalctl -u k3s -e; kubectl describe node " + name))
        shares = int(node["status"].get("allocatable", {}).get("nvidia.com/gpu", "0"))
        wanted = gpu_shares(StackContext(nodes={device: cfg}), device) if name == device else 1
        checks.append(Check(device, f"GPU shares on {name}", shares >= wanted, f"{shares} allocatable, {wanted} needed",
                            "" if shares >= wanted else "kubectl -n kube-system logs -l app.kubernetes.io/name="
                            "nvidia-device-plugin (is the node labelled nvidia.com/gpu.present=true?)"))
    try:
        pods = json.loads(sections.get("pods", ""))["items"]
    except (ValueError, KeyError):
        pods = []
    unready = []
    for pod in pods:
        phase = pod.get("status", {}).get("phase")
        if phase == "Succeeded":
            continue
        statuses = pod.get("status", {}).get("containerStatuses") or []
        if phase != "Running" or not statuses or not all(s.get("ready") for s in statuses):
            unready.append(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}")
    checks.append(Check(device, "pods Ready", not unready, f"{len(unready)} not ready: {', '.join(unready[:5])}"
                        if unready else f"{len(pods)} pods ready",
                        "kubectl describe pod -n <namespace> <pod>; kubectl logs ..." if unready else ""))
    return checks


def cluster_checks(device: str, cfg: GpuNode, sections: dict[str, str]) -> list[Check]:
    """Nodes Ready with their GPU shares, pods Ready, no Helm release failed."""
    return _k3s_checks(device, cfg, sections) + helmchart_checks(device, sections.get("helmcharts", ""))


def helmchart_checks(device: str, text: str) -> list[Check]:
    """The Helm controller's verdict per HelmChart: with failurePolicy abort a release whose
    install or upgrade failed stays as it was, and its HelmChart says Failed (helm-controller
    v0.16 status.conditions; the job is helm-install-<name> in the HelmChart's namespace)."""
    try:
        charts = json.loads(text)["items"]
    except (ValueError, KeyError, TypeError):
        return []  # kubectl did not answer: the k3s checks say so
    failed = []
    for chart in charts:
        conditions = (chart.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Failed" and c.get("status") == "True" for c in conditions):
            failed.append(chart)
    if not failed:
        return [Check(device, "Helm releases", True, f"{len(charts)} HelmCharts, none failed")]
    checks = []
    for chart in failed:
        name, namespace = chart["metadata"]["name"], chart["metadata"].get("namespace", "kube-system")
        job = (chart.get("status") or {}).get("jobName") or f"helm-install-{name}"
        message = next(c.get("message", "") for c in chart["status"]["conditions"] if c.get("type") == "Failed")
        checks.append(Check(device, f"Helm release {name}", False,
                            f"its install job failed ({message[:80]}); the release is left as it was",
                            f"kubectl -n {namespace} logs job/{job}; fix the cause, then re-run the GPU node deploy"))
    return checks


def quota_check(device: str, text: str, limits: dict[str, dict[str, int | None]]) -> Check:
    """Tenants near a token quota (the door's usage store on the server), and a store the
    door cannot use (quotas then fail open or closed, as group data says)."""
    try:
        store = tenant_usage.parse(text)
    except tenant_usage.UsageUnavailable as error:
        return Check(device, "token quotas", False, str(error), f"sudo ls -l {USAGE_FILE}; the door rewrites it "
                     "every few seconds: if it is damaged, move it away (quotas start again from zero)")
    near = tenant_usage.near_quota(store, limits)
    if not near:
        return Check(device, "token quotas", True, "no device at 80% of a quota")
    detail = "; ".join(f"{tenant} used {used} of {quota} tokens this {period} ({100 * used // quota}%)"
                       for tenant, period, used, quota in near)
    return Check(device, "token quotas", False, detail,
                 "raise api_tokens_per_day/_month in its inventory entry and deploy, or wait until the quota resets "
                 "(UTC); `python tasks.py usage` shows the figures")


def gpu_mode_check(device: str, text: str, marker: str = "absent") -> Check:
    """Serving, or the GPU lent to a game (not a fault: it says since when and how to resume);
    a fault when the state and the gateway's 503 marker disagree, or the state is unreadable."""
    paused_marker = marker.strip() == "present"
    fix = f"sudo {gpu_mode.TOOL} resume (or pause) on the k3s server sets state and gateway straight"
    if not text.strip():
        if paused_marker:
            return Check(device, "AI side", False, "the gateway answers 503 (paused marker) with no state", fix)
        return Check(device, "AI side", True, "serving (never paused)")
    try:
        state = json.loads(text)
        name = str(state["state"])
    except (ValueError, KeyError, TypeError):
        return Check(device, "AI side", False, f"its state file is unreadable: {text.strip()[:60]!r}", fix)
    detail = name + (f" since {state['since']}" if state.get("since") else "") + \
        (f" (by {state['by']})" if state.get("by") else "")
    if paused_marker != (name == "paused"):
        return Check(device, "AI side", False, f"{detail}, but the gateway "
                     f"{'answers 503 (paused marker)' if paused_marker else 'serves (no paused marker)'}", fix)
    if name == "paused":
        detail += ": the GPU is lent to a game; `python tasks.py gpu resume` brings the models back"
    return Check(device, "AI side", True, detail)


def alerts_checks(device: str, text: str, store: SecretsStore) -> list[Check]:
    """What fires now on the watcher (homelab-alerts), and whether alerts reach a phone."""
    try:
        firing = json.loads(text)
    except ValueError:
        return [Check(device, "what fires now", False, text.strip()[:160] or "homelab-alerts did not answer",
                      "systemctl status prometheus-alertmanager on the board; re-run deploys/le_potato.py")]
    # an info alert (the PC asleep for hours, a quota spent) is news, not a fault
    checks = [Check(device, "what fires now", all(a["severity"] == "info" for a in firing),
                    "; ".join(f"{a['severity']} {a['alert']}: {a['summary']}" for a in firing) or "nothing fires",
                    "each alert says what to do; the phone's lab-alerts widget shows the same" if firing else "")]
    # no topic is the owner's choice, not a fault: said, with how to set one
    delivered = store.has(watcher.NTFY_URL_SECRET)
    checks.append(Check(device, "alerts reach the phone", True,
                        "through the ntfy topic in the secrets store" if delivered else
                        "no ntfy topic: alerts show here and on the lab-alerts widget only (`python tasks.py secrets "
                        f"set {watcher.NTFY_URL_SECRET}`, then deploy the Le Potato; README: Alerts on your phone)"))
    return checks


def models_check(device: str, text: str) -> Check | None:
    """Models on demand as homelab-waker last saw them: loaded, unloaded or starting, since when."""
    try:
        models = json.loads(text)
    except ValueError:
        return None  # no model on demand (or the waker has not started yet)
    # news, not a fault (like the AI side's state): a missing engine shows in the pods' checks
    detail = "; ".join(f"{name} {entry['state']} since {entry['since']}" for name, entry in sorted(models.items()))
    return Check(device, "models on demand", True, detail or "none")


def tunnel_checks(device: str, text: str, peers: dict[str, str], now: float) -> list[Check]:
    """Each tunnel peer's last handshake (`wg show wg0 latest-handshakes`: key, then a Unix
    time, 0 for never). `peers`: public key -> device."""
    seen: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit():
            seen[fields[0]] = int(fields[1])
    if not seen and peers:
        return [Check(device, "WireGuard tunnel up", False, text.strip()[:120] or "wg show did not answer",
                      "re-run `pyinfra inventory.py deploys/le_potato.py`; `journalctl -u wg-quick@wg0` on the board")]
    checks = [Check(device, "WireGuard tunnel up", True, f"{len(seen)} peers")]
    for key, name in sorted(peers.items(), key=lambda item: item[1]):
        when = seen.get(key)
        if when is None:
            checks.append(Check(device, f"tunnel peer {name}", False, "not in the board's config",
                                "re-run `pyinfra inventory.py deploys/le_potato.py`"))
            continue
        detail = "never connected" if not when else f"last handshake {_ago(now - when)} ago"
        checks.append(Check(device, f"tunnel peer {name}", True, detail))
    return checks


def _ago(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 2:
        return f"{int(seconds)} s"
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


def gateway_check(device: str, cfg: GpuNode) -> Check:
    url = f"{api_base_url_for(cfg)}/models"
    try:
        response = requests.get(url, timeout=8, verify=tls_verify(cfg, device))
    except requests.RequestException as exc:
        return Check(device, "gateway answering", False, f"{url}: {type(exc).__name__}",
                     "kubectl -n " + cfg.gateway_namespace + " get pods -l app=gateway; is the Windows firewall rule "
                     "for the port in place (windows-setup.ps1)?")
    ok = response.status_code == 401 and "invalid_api_key" in response.text
    return Check(device, "gateway answering", ok, f"{url} -> {response.status_code} without a token",
                 "" if ok else "the answer is not the gateway's 401: check what listens on " +
                 f"{urlsplit(url).netloc}")


def host_checks(host: Host) -> list[Check]:
    cfg = settings_for(host)
    device = host.name
    if not isinstance(cfg, (DebianHost, TermuxPhone)):
        return []
    proc = subprocess.run(ssh_command(cfg, host.name, probe_script(cfg)), capture_output=True, text=True, timeout=60)
    if proc.returncode == 255:
        error = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no answer"
        changed = "IDENTIFICATION HAS CHANGED" in proc.stderr or "verification failed" in proc.stderr
        if changed:
            fix = ("its host key is not the pinned one: if the device was reinstalled, remove the old key "
                   f"(ssh-keygen -R {shlex.quote(cfg.ssh_hostname or host.name)}) and connect once to pin the new one")
        elif isinstance(cfg, GpuNode) and cfg.wol_mac:
            fix = f"the GPU node is asleep (or off): wake it with `python tasks.py wake {device}`"
        else:
            fix = "is it switched on and on the network? (Termux: is sshd running?)"
        return [Check(device, "SSH with the pinned host key", False, error[:120], fix)]
    checks = [Check(device, "SSH with the pinned host key", True, f"{cfg.ssh_hostname}:{cfg.ssh_port}")]
    sections = parse_sections(proc.stdout)
    state = host_state.parse(sections.get("state", "").splitlines())
    profile = state.profile
    os_name = f"{profile.get('os_id') or 'unknown'} {profile.get('os_version', '')}".strip()
    checks.append(Check(device, "OS and arch", True, f"{os_name} {profile.get('arch') or 'unknown'}"))
    usage = state.disks.get(disk_path(cfg) or "")
    if isinstance(cfg, GpuNode):
        wsl = host_state.is_wsl(cfg, profile)
        if wsl:
            init = profile.get("init") or "unknown"
            ok = init == "systemd"
            checks.append(Check(device, "systemd is PID 1 in WSL", ok, f"PID 1 is {init}",
                                "" if ok else "run `wsl --shutdown` on Windows and start the distribution again"))
        probe = state.gpu
        problem = gpu_problem(probe, wsl, {}, cfg.gpu_vram_gib)
        checks.append(Check(device, "GPU visible", problem is None,
                            probe["name"] or "no GPU", problem or ""))
        if role_of(host) == "gpu_nodes" and k3s.role(host) == "server":
            checks.append(gpu_mode_check(device, sections.get("gpu_mode", ""), sections.get("gpu_marker", "")))
            models = models_check(device, sections.get("models", ""))
            checks += [models] if models else []
            checks += cluster_checks(device, cfg, sections)
            checks.append(quota_check(device, sections.get("usage", ""), tenant_usage.tenant_limits(host.inventory)))
            checks.append(gateway_check(device, cfg))
        checks.append(_disk_check(device, "model cache disk", usage,
                                  f"free space under {cfg.model_cache_path} or disable models"))
    if isinstance(cfg, LePotato):
        states = [state.unit(name)["active"] for name in LE_POTATO_SERVICES] if state.units else []
        ok = states == ["active", "active"]
        checks.append(Check(device, "node exporter and apt cache running", ok, " ".join(states) or "unknown",
                            "" if ok else "re-run `pyinfra inventory.py deploys/le_potato.py` (it starts them)"))
        checks.append(_disk_check(device, "apt cache disk", usage,
                                  "lower apt_cache_expire_days or move apt_cache_dir to USB storage"))
        if _watching(cfg):
            states = [state.unit(name)["active"] for name in WATCHER_SERVICES] if state.units else []
            ok = states == ["active"] * len(WATCHER_SERVICES)
            checks.append(Check(device, "watcher running (Prometheus, Alertmanager, blackbox)", ok,
                                " ".join(states) or "unknown",
                                "" if ok else "re-run `pyinfra inventory.py deploys/le_potato.py` (it starts them)"))
            checks += alerts_checks(device, sections.get("alerts", ""), secrets_store(host))
        if tunnel_peers.enabled(cfg):
            store = secrets_store(host)
            peers = {p.public_key: p.device for p in tunnel_peers.peers(host.inventory, store, cfg)
                     if store.stored(tunnel_peers.key_secret(p.device))}
            checks += tunnel_checks(device, sections.get("tunnel", ""), peers, time.time())
    return checks

