"""The gateway as the cluster runs it, from what the deploy wrote on the GPU-node lab host:
the Caddyfile of the gateway's ConfigMap, the tokens and keys of the deployed Secrets,
LiteLLM's config.yaml, door and checks from its ConfigMap. Caddy 2.11 runs that Caddyfile
where the cluster's would listen (in the GPU-node lab host's network namespace, as
hostNetwork does on the node); the door and LiteLLM from PyPI run that config; each runs as
its pod's securityContext says. A STAND-IN for vLLM (homelab/lab/servers/vllm_stand_in.py)
answers behind them, and one for the cluster's Prometheus behind the watcher's /federate
(watcher_stand_ins.py), on this machine (10.77.0.1). The tests and `tasks.py bench gateway`
use it.

The only values not taken from the host are the upstream addresses the Deployments put
in the environment (LITELLM_UPSTREAM, VLLM_API_BASE, ...): in-cluster DNS names do not
resolve here, so they point at this machine's stand-ins instead."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import requests
import yaml

from homelab import gpu_mode
from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.lab.network import HOST_SIDE
from homelab.lab.system import wait_for_port
from homelab.paths import PROJECT_ROOT
from homelab.settings import GpuNode
from homelab.stack import gateway as gateway_stack
from homelab.stack import litellm as litellm_stack
from homelab.stack import security

if TYPE_CHECKING:
    from homelab.lab import Lab

Json = dict[str, Any]
SERVERS = PROJECT_ROOT / "homelab" / "lab" / "servers"

# LITELLM_PORT is the door's (LiteLLM's Service port); LiteLLM itself listens behind it
UPSTREAM_PORT, LITELLM_PORT, TLS_PORT, INTERNAL_PORT, LITELLM_INNER_PORT = 18181, 18182, 18443, 18190, 18183
# the STAND-IN for the cluster's Prometheus behind the watcher's /federate (watcher_stand_ins.py)
CLUSTER_PROMETHEUS_PORT = 18191
# Caddy 2.11 from the sha256-pinned wheel (scripts/caddy-requirements.txt), the image's minor
CADDY = str(Path(sys.executable).with_name("caddy")) if Path(sys.executable).with_name("caddy").exists() else None
MANIFESTS = "/var/lib/rancher/k3s/server/manifests"


def _record(base_url: str) -> list[Json]:
    """What a stand-in server recorded (its GET /_requests)."""
    found: list[Json] = requests.get(f"{base_url}/_requests", timeout=5).json()["requests"]
    return found


def wait_for(url: str, timeout: float = 180, **kwargs: Any) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2, **kwargs).status_code < 500:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer")
        time.sleep(0.5)


class Deployed:
    """The gateway's and LiteLLM's files as they landed on the GPU-node lab host."""

    def __init__(self, lab: Lab, node: str = "gpu-node"):
        def objects(name: str) -> list[Json]:
            text = lab.ssh(node, f"cat {MANIFESTS}/{name}.yaml", sudo=True).stdout
            return [o for o in yaml.safe_load_all(text) if o]

        gateway = objects("homelab-gateway")
        litellm = objects("homelab-litellm")
        self.secrets: dict[str, dict[str, str]] = {o["metadata"]["name"]: o["stringData"]
                                                   for o in objects("homelab-secrets") if o["kind"] == "Secret"}
        self.caddyfile: str = _one(gateway, "ConfigMap")["data"]["Caddyfile"]
        self.caddy_pod: Json = _one(gateway, "Deployment")["spec"]["template"]["spec"]
        self.caddy_env: list[Json] = _container(self.caddy_pod, "caddy")["env"]
        # config.yaml, door.json and the door's programs, as LiteLLM's pod mounts them
        self.litellm_files: dict[str, str] = _one(litellm, "ConfigMap")["data"]
        self.litellm_pod: Json = _one(litellm, "Deployment")["spec"]["template"]["spec"]
        self.litellm_env: list[Json] = _container(self.litellm_pod, "litellm")["env"]
        self.door_env: list[Json] = _container(self.litellm_pod, "door")["env"]

    def env(self, entries: list[Json], overrides: dict[str, str]) -> dict[str, str]:
        """A container's environment as the kubelet would build it, Secrets resolved."""
        env: dict[str, str] = {}
        for entry in entries:
            if "valueFrom" in entry:
                ref = entry["valueFrom"]["secretKeyRef"]
                env[entry["name"]] = self.secrets[ref["name"]][ref["key"]]
            else:
                env[entry["name"]] = entry["value"]
        return {**env, **overrides}

    @property
    def tokens(self) -> dict[str, str]:
        """device -> token, from the deployed gateway-tokens Secret (by the env names the Deployment uses)."""
        return {entry["name"].removeprefix("HOMELAB_TOKEN_").lower(): self.secrets[
            entry["valueFrom"]["secretKeyRef"]["name"]][entry["valueFrom"]["secretKeyRef"]["key"]]
            for entry in self.caddy_env if entry["name"].startswith("HOMELAB_TOKEN_")}


def _container(pod: Json, name: str) -> Json:
    found: Json = next(c for c in pod["containers"] if c["name"] == name)
    return found


def as_the_pod(pod: Json, container: Json, writable: list[Path]) -> list[str]:
    """A command prefix that runs a program the way the pod's securityContext says: as its
    user and group, without capabilities but those added (and only in the bounding set), no
    privilege escalation, a read-only root file system but for `writable` (its volumes) and
    a fresh /tmp (its scratch emptyDir). A private mount namespace (util-linux's unshare) and
    setpriv do it for one process on this machine."""
    context = {**(pod.get("securityContext") or {}), **(container.get("securityContext") or {})}
    uid, added = context.get("runAsUser", 0), (context.get("capabilities") or {}).get("add") or []
    steps = ["mount --make-rprivate /",
             *(f"mount --bind {shlex.quote(str(d))} {shlex.quote(str(d))}" for d in writable)]
    if any(m["mountPath"] == "/tmp" for m in container.get("volumeMounts", [])):
        steps.append("mount -t tmpfs -o size=1g,mode=1777 tmpfs /tmp")
    if context.get("readOnlyRootFilesystem"):
        steps.append("mount -o remount,bind,ro /")
    bounding = ",".join(["-all", *(f"+{cap.lower()}" for cap in added)])
    setpriv = f"setpriv --reuid={uid} --regid={context.get('runAsGroup', uid)} --clear-groups " \
              f"--bounding-set={bounding} --inh-caps=-all"
    if context.get("allowPrivilegeEscalation") is False:
        setpriv += " --no-new-privs"
    return ["unshare", "--mount", "--", "sh", "-c", " && ".join(steps) + f' && exec {setpriv} -- "$@"', "sh"]


def _one(objects: list[Json], kind: str) -> Json:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


class Gateway:
    """Caddy + LiteLLM + the vLLM stand-in, from the deployed files."""

    def __init__(self, lab: Lab, work: Path):
        self.lab, self.work = lab, work
        # what the pods' users read (the config, LiteLLM's programs): not under pytest's 0700 tmp
        self.runtime = Path(tempfile.mkdtemp(prefix="homelab-gateway-", dir="/var/tmp"))
        self.runtime.chmod(0o755)
        self.inventory = load_inventory(lab.inventory_file, cwd=PROJECT_ROOT)
        self.cfg = settings_for(self.inventory.get_host("gpu-node"), GpuNode)
        self.models = [m for m in self.cfg.models if m.enabled]
        self.node = lab.spec("gpu-node")
        self.address = self.node.address
        self.url = f"http://{self.address}:{self.cfg.gateway_port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, IO[str]] = {}
        self.deployed = Deployed(lab)

    def _start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.logs[name] = open(self.work / f"{name}.log", "w")
        self.processes[name] = subprocess.Popen(cmd, stdout=self.logs[name], stderr=subprocess.STDOUT, cwd=self.work,
                                                env={**os.environ, **(env or {})})

    @property
    def vllm_key(self) -> str:
        return self.deployed.secrets["vllm-api-key"]["key"]

    def start(self) -> None:
        self.runtime.mkdir(parents=True, exist_ok=True)  # (again, after a stop_all)
        self.runtime.chmod(0o755)
        self.start_upstream()
        # a service nobody may reach through the door; its redirect leads to the model server
        self._start("internal", [sys.executable, str(SERVERS / "internal_service.py"),
                                 HOST_SIDE, str(INTERNAL_PORT), f"http://{HOST_SIDE}:{UPSTREAM_PORT}/v1/models"])
        wait_for(f"{self.internal_url}/_requests", 30)
        # what the cluster's Prometheus would federate: the tests write it (cluster_series)
        self.cluster_series_file.write_text("")
        self.cluster_series_file.chmod(0o644)
        self._start("cluster-prometheus", [sys.executable, str(SERVERS / "watcher_stand_ins.py"), "prometheus",
                                           HOST_SIDE, str(CLUSTER_PROMETHEUS_PORT), str(self.cluster_series_file)])
        wait_for(f"{self.cluster_prometheus_url}/_requests", 30)
        self.start_litellm()
        self.start_caddy()

    def start_upstream(self) -> None:
        """The vLLM stand-in the engines' Services lead to."""
        self._start("upstream", [sys.executable, str(SERVERS / "vllm_stand_in.py"),
                                 HOST_SIDE, str(UPSTREAM_PORT), self.vllm_key, *(m.name for m in self.models)])
        wait_for_port(HOST_SIDE, UPSTREAM_PORT, f"the vLLM stand-in (log: {self.work / 'upstream.log'})", 30)

    def start_litellm(self, clock: str | None = None) -> None:
        """LiteLLM's pod: LiteLLM on the loopback, the door in front (both as the pod runs them).
        `clock` ("2026-12-31 23:59:30") starts the door's clock there (a stand-in clock)."""
        self.stop("door")
        self.stop("litellm")
        config_dir = self.runtime / "litellm"
        config_dir.mkdir(exist_ok=True, mode=0o755)
        for name, text in self.deployed.litellm_files.items():
            (config_dir / name).write_text(text)
        pod = self.deployed.litellm_pod
        env = self.deployed.env(self.deployed.litellm_env, {"VLLM_API_BASE": f"http://{HOST_SIDE}:{UPSTREAM_PORT}/v1",
                                                            "PYTHONPATH": str(config_dir),
                                                            # its access log is read by the tests as it happens
                                                            "PYTHONUNBUFFERED": "1"})
        self._start("litellm", [*as_the_pod(pod, _container(pod, "litellm"), []),
                                str(Path(sys.executable).with_name("litellm")),
                                "--config", str(config_dir / "config.yaml"),
                                "--host", "127.0.0.1", "--port", str(LITELLM_INNER_PORT)], env)
        # its usage store: the node's own directory, as the pod's PersistentVolume shows it
        usage = self.node.root / litellm_stack.USAGE_DIR.lstrip("/")
        door_env = self.deployed.env(self.deployed.door_env, {
            "HOMELAB_DOOR_UPSTREAM": f"http://127.0.0.1:{LITELLM_INNER_PORT}", "HOMELAB_DOOR_HOST": HOST_SIDE,
            "HOMELAB_DOOR_PORT": str(LITELLM_PORT), "PYTHONPATH": str(config_dir), "PYTHONUNBUFFERED": "1",
            "HOMELAB_DOOR_USAGE_FILE": str(usage / "usage.json")})
        # a clock of the test's for the door's process (homelab/lab/servers/clock.py)
        clock_args = [str(SERVERS / "clock.py"), clock] if clock else []
        self._start("door", [*as_the_pod(pod, _container(pod, "door"), [usage]), sys.executable, *clock_args,
                             str(config_dir / "homelab_door.py")], door_env)
        wait_for(f"{self.litellm_url}/healthz")

    @property
    def cluster_series_file(self) -> Path:
        return self.runtime / "cluster-series.prom"

    @property
    def cluster_prometheus_url(self) -> str:
        return f"http://{HOST_SIDE}:{CLUSTER_PROMETHEUS_PORT}"

    def cluster_series(self, text: str) -> None:
        """What the stand-in cluster Prometheus answers /federate with from now on."""
        self.cluster_series_file.write_text(text)

    def cluster_prometheus_requests(self) -> list[Json]:
        return _record(self.cluster_prometheus_url)

    @property
    def litellm_url(self) -> str:
        return f"http://{HOST_SIDE}:{LITELLM_PORT}"

    def litellm_key(self, caller: str) -> str:
        """A caller's own key to LiteLLM (gateway, open-webui, metrics), from the deployed Secrets."""
        return self.deployed.secrets[f"litellm-{caller}-key"]["key"]

    @property
    def master_key(self) -> str:
        return self.deployed.secrets["litellm-master-key"]["key"]

    def tokens(self) -> dict[str, str]:
        return self.deployed.tokens

    def reload(self, litellm: bool = False) -> None:
        """What k3s does after a deploy changed the gateway's files (and LiteLLM's): read
        them again, restart."""
        self.deployed = Deployed(self.lab)
        if litellm:
            self.start_litellm()
        self.start_caddy()

    def start_caddy(self, name: str = "caddy", deployed: Deployed | None = None, port: int | None = None) -> None:
        if CADDY is None:
            raise FileNotFoundError("Caddy 2.11 is not in .venv (scripts/bootstrap.sh installs it)")
        deployed = deployed or self.deployed
        self.stop(name)
        path = self.work / f"{name}.Caddyfile"
        path.write_text(deployed.caddyfile)
        # the pod's volumes, as the node holds them: its data directory (the deploy made it, for
        # the pod's user) and its scratch for the image's XDG_CONFIG_HOME
        data = self.node.root / gateway_stack.DATA_DIR.lstrip("/")
        scratch = self.runtime / f"{name}-config"
        scratch.mkdir(exist_ok=True)
        os.chown(scratch, security.POD_UID, security.POD_UID)
        env = deployed.env(deployed.caddy_env, {
            gateway_stack.UPSTREAM_ENV: f"{HOST_SIDE}:{LITELLM_PORT}",
            # the vLLM stand-in plays Open WebUI
            gateway_stack.WEBUI_UPSTREAM_ENV: f"{HOST_SIDE}:{UPSTREAM_PORT}",
            gateway_stack.PROMETHEUS_UPSTREAM_ENV: f"{HOST_SIDE}:{CLUSTER_PROMETHEUS_PORT}",
            # the node's game-mode state directory, as the pod's hostPath mount shows it
            gateway_stack.GPU_MODE_ENV: str(self.node.root / gpu_mode.STATE_DIR.lstrip("/")),
            "XDG_DATA_HOME": str(data), "XDG_CONFIG_HOME": str(scratch)})
        caddyfile = self.runtime / path.name
        caddyfile.write_text(deployed.caddyfile)
        pod = deployed.caddy_pod
        self._start(name, ["ip", "netns", "exec", self.node.netns,
                           *as_the_pod(pod, _container(pod, "caddy"), [data, scratch]),
                           CADDY, "run", "--config", str(caddyfile), "--adapter", "caddyfile"], env)
        wait_for_port(self.address, port or self.cfg.gateway_port, f"Caddy (log: {self.work / f'{name}.log'})", 30)

    def stop(self, name: str) -> None:
        proc = self.processes.pop(name, None)
        if proc:
            proc.terminate()
            proc.wait(timeout=15)
        log = self.logs.pop(name, None)
        if log:
            log.close()

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        shutil.rmtree(self.runtime, ignore_errors=True)

    def call(self, path: str, token: str | None = None, body: Json | None = None,
             headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        if body is None:
            return requests.get(self.url + path, headers=headers, timeout=30, **kwargs)
        return requests.post(self.url + path, headers=headers, json=body, timeout=60, **kwargs)

    def call_litellm(self, path: str, key: str, body: Json | None = None, headers: dict[str, str] | None = None,
                     **kwargs: Any) -> requests.Response:
        """A request straight to LiteLLM, as a caller behind the gateway (Open WebUI, Prometheus)."""
        headers = {"Authorization": f"Bearer {key}", **(headers or {})}
        if body is None:
            return requests.get(self.litellm_url + path, headers=headers, timeout=30, **kwargs)
        return requests.post(self.litellm_url + path, headers=headers, json=body, timeout=60, **kwargs)

    def upstream_requests(self) -> list[Json]:
        return _record(f"http://{HOST_SIDE}:{UPSTREAM_PORT}")

    @property
    def internal_url(self) -> str:
        return f"http://{HOST_SIDE}:{INTERNAL_PORT}"

    def internal_requests(self) -> list[Json]:
        """What the stand-in internal service was ever sent (nothing, if the door holds)."""
        return _record(self.internal_url)

    def litellm_requests(self) -> list[str]:
        """The requests LiteLLM answered, from its access log ("METHOD /path STATUS")."""
        seen = []
        for line in (self.work / "litellm.log").read_text(errors="replace").splitlines():
            match = re.search(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3})', line)
            if match and line.startswith("INFO:"):
                seen.append(" ".join(match.groups()))
        return seen
