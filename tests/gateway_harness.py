"""The gateway as the cluster runs it: Debian's Caddy with exactly the Caddyfile the
deploy renders, listening where the cluster's would (the GPU-node lab host's address:
Caddy runs in that host's network namespace, as hostNetwork does on the node), LiteLLM
from PyPI with exactly the config.yaml the deploy renders, and a STAND-IN for vLLM
(tests/stand_ins/openai_upstream.py) behind it, both on this machine (10.77.0.1)."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from homelab.devices import active_tokens, api_devices, token_env
from homelab.lab.network import HOST_SIDE
from homelab.lab.system import wait_for_port
from homelab.secrets import SecretsStore
from homelab.stack import gateway as gateway_stack
from homelab.stack.litellm import litellm_config
from homelab.validation import load_inventory, settings_for
from tests.support import PROJECT_ROOT

UPSTREAM_PORT, LITELLM_PORT, TLS_PORT = 18181, 18182, 18443
VLLM_KEY = "stand-in-vllm-key"
CADDY = shutil.which("caddy")


def wait_for(url: str, timeout: float = 180, **kwargs) -> None:
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


class Gateway:
    """Caddy + LiteLLM + the vLLM stand-in, as the cluster runs them."""

    def __init__(self, lab, work: Path):
        self.lab, self.work = lab, work
        self.inventory = load_inventory(lab.inventory_file, cwd=PROJECT_ROOT)
        self.cfg = settings_for(self.inventory.get_host("gpu-node"))
        self.store = SecretsStore(lab.secrets_file)
        self.models = [m for m in self.cfg.models if m.enabled]
        self.node = lab.spec("gpu-node")
        self.address = self.node.address
        self.url = f"http://{self.address}:{self.cfg.gateway_port}"
        self.processes: dict[str, subprocess.Popen] = {}

    def _start(self, name, cmd, env=None):
        log = open(self.work / f"{name}.log", "w")
        self.processes[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                                cwd=self.work)

    def start(self):
        self._start("upstream", [sys.executable, str(PROJECT_ROOT / "tests/stand_ins/openai_upstream.py"),
                                 HOST_SIDE, str(UPSTREAM_PORT), VLLM_KEY, *(m.name for m in self.models)])
        config = litellm_config(self.models, f"http://{HOST_SIDE}:{UPSTREAM_PORT}/v1")
        (self.work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        self._start("litellm", [str(Path(sys.executable).with_name("litellm")), "--config", "config.yaml",
                                "--host", HOST_SIDE, "--port", str(LITELLM_PORT)],
                    {"LITELLM_MASTER_KEY": self.master_key, "VLLM_API_KEY": VLLM_KEY})
        wait_for(f"{self.litellm_url}/health/liveliness")
        self.start_caddy()

    @property
    def litellm_url(self) -> str:
        return f"http://{HOST_SIDE}:{LITELLM_PORT}"

    @property
    def master_key(self) -> str:
        return self.store.get("litellm_master_key").reveal()

    def tokens(self) -> dict[str, str]:
        return active_tokens(self.store, api_devices(self.inventory))

    def caddyfile(self, tls_names=None, port=None) -> str:
        return gateway_stack.caddyfile(sorted(self.tokens()), self.cfg.gateway_allowlist, f"{HOST_SIDE}:{LITELLM_PORT}",
                                       port or self.cfg.gateway_port, tls_names, self.cfg.gateway_body_limit_mb,
                                       self.cfg.gateway_timeout_minutes,
                                       # Open WebUI's site, with the vLLM stand-in playing Open WebUI
                                       webui_upstream=f"{HOST_SIDE}:{UPSTREAM_PORT}",
                                       webui_port=self.cfg.open_webui_port + (1000 if tls_names else 0))

    def caddy_env(self) -> dict:
        env = {token_env(device): token for device, token in self.tokens().items()}
        return {**env, "LITELLM_MASTER_KEY": self.master_key, "XDG_DATA_HOME": str(self.work / "caddy-data"),
                "XDG_CONFIG_HOME": str(self.work / "caddy-config")}

    def start_caddy(self, name="caddy", tls_names=None, port=None):
        """What the next deploy does to the cluster's gateway: new Caddyfile, new env, restart."""
        self.stop(name)
        path = self.work / f"{name}.Caddyfile"
        path.write_text(self.caddyfile(tls_names, port))
        self._start(name, ["ip", "netns", "exec", self.node.netns, CADDY, "run", "--config", str(path),
                           "--adapter", "caddyfile"], self.caddy_env())
        wait_for_port(self.address, port or self.cfg.gateway_port, f"Caddy (log: {self.work / f'{name}.log'})", 30)

    def stop(self, name):
        proc = self.processes.pop(name, None)
        if proc:
            proc.terminate()
            proc.wait(timeout=15)

    def stop_all(self):
        for name in list(self.processes):
            self.stop(name)

    def call(self, path, token=None, body=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is None:
            return requests.get(self.url + path, headers=headers, timeout=30, **kwargs)
        return requests.post(self.url + path, headers=headers, json=body, timeout=60, **kwargs)

    def upstream_requests(self):
        return requests.get(f"http://{HOST_SIDE}:{UPSTREAM_PORT}/_requests", timeout=5).json()["requests"]

