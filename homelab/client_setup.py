"""What every client setup is made of: the gateway's URLs, the device's token, the
environment file, the CLI's configuration. The Termux, iPad and MacBook components
render these for their devices."""

from __future__ import annotations

import re
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, Generic, TypeVar

import segno
import yaml
from pyinfra.api.host import Host

from homelab import devices, k3s, tunnel_peers
from homelab.guards import refuse
from homelab.host_settings import secrets_store, settings_for
from homelab.operations.local import local_file, local_file_absent
from homelab.secrets_store import Secret
from homelab.settings import CatalogueModel, Common, GpuNode

Kind = TypeVar("Kind", bound=Common)


def _scheme(server_cfg: GpuNode) -> str:
    return "https" if server_cfg.gateway_tls else "http"


def api_base_url_for(server_cfg: GpuNode) -> str:
    return f"{_scheme(server_cfg)}://{server_cfg.lan_address}:{server_cfg.gateway_port}/v1"


def gateway_root_ca(cfg: Common, node_name: str) -> Path:
    """Where the GPU node deploy puts the gateway's root CA on the control machine."""
    return Path(cfg.client_files_dir) / node_name / "gateway-root-ca.crt"


def tls_verify(cfg: GpuNode, node_name: str) -> str | bool:
    """What requests should verify the gateway against: its root CA once fetched."""
    root_ca = gateway_root_ca(cfg, node_name)
    return str(root_ca) if root_ca.is_file() else True


def api_base_url() -> str:
    return api_base_url_for(settings_for(k3s.server_host(), GpuNode))


def open_webui_url() -> str | None:
    cfg = settings_for(k3s.server_host(), GpuNode)
    if not cfg.open_webui_enabled:
        return None
    return f"{_scheme(cfg)}://{cfg.lan_address}:{cfg.open_webui_port}/"


def device_token(host: Host) -> Secret | None:
    """The device's API token, or None (and the host refused) when it is revoked."""
    store = secrets_store(host)
    name = devices.device_name(host)
    if devices.is_revoked(store, name):
        refuse(f"the API token of {name} is revoked: `python tasks.py keys create {name}`, deploy the GPU node, "
               "then the clients")
        return None
    return store.get_or_make(devices.token_key(name))


@dataclass(frozen=True)
class Client(Generic[Kind]):
    """What every client deploy starts from: its settings, name, token and the gateway's URL."""

    cfg: Kind
    device: str
    token: Secret
    base_url: str

    @property
    def models(self) -> list[CatalogueModel]:
        return enabled_models(self.cfg)


def client_for(host: Host, kind: type[Kind]) -> Client[Kind] | None:
    """The client `host` is (a `kind`), or None (and the host refused) when its token is revoked."""
    token = device_token(host)
    if token is None:
        return None
    return Client(settings_for(host, kind), devices.device_name(host), token, api_base_url())


def _double_quoted(value: str) -> str:
    """`value` in double quotes for a file the shell sources: \\, ", $ and ` escaped."""
    return '"' + re.sub(r'([\\"$`])', r"\\\1", value) + '"'


def env_file(base_url: str, token: Secret, extra: dict[str, str] | None = None) -> Secret:
    values = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": token.reveal(), **(extra or {})}
    lines = ["# Managed by homelab (pyinfra): this device's access to the home lab's API. Secret: mode 0600.",
             *(f"export {key}={_double_quoted(value)}" for key, value in values.items())]
    return Secret("\n".join(lines) + "\n")


def aichat_config(base_url: str, token: Secret, models: list[CatalogueModel], default_model: str) -> Secret:
    """aichat's config.yaml: one openai-compatible client "homelab" with the catalogue's models."""
    entries = []
    for model in models:
        entry: dict[str, Any] = {"name": model.name}
        if model.kind == "embedding":
            entry["type"] = "embedding"
        else:
            entry["max_input_tokens"] = model.max_model_len
        entries.append(entry)
    config = {
        "model": f"homelab:{default_model}",
        "clients": [{"type": "openai-compatible", "name": "homelab", "api_base": base_url,
                     "api_key": token.reveal(), "models": entries}],
    }
    header = "# Managed by homelab (pyinfra): the home lab's models for aichat. Secret (API key): mode 0600.\n"
    return Secret(header + yaml.safe_dump(config, sort_keys=False))


def enabled_models(cfg: Common) -> list[CatalogueModel]:
    return [m for m in cfg.models if m.enabled]


def qr_png(text: str) -> bytes:
    out = BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=8, border=4)
    return out.getvalue()


def tunnel_enabled(host: Host) -> bool:
    return tunnel_peers.enabled(settings_for(host))


def away_env(host: Host) -> dict[str, str]:
    """The env file's way in from outside (through the tunnel), when there is a tunnel."""
    return {"HOMELAB_AWAY_BASE_URL": tunnel_peers.away_base_url(host.inventory)} if tunnel_enabled(host) else {}


def tunnel_config(host: Host, device: str) -> Secret | None:
    """The device's WireGuard config, or None without a tunnel."""
    if not tunnel_enabled(host):
        return None
    return tunnel_peers.client_config(host.inventory, secrets_store(host), settings_for(host), device)


TUNNEL_FILES = ("SECRET-wireguard.conf", "SECRET-wireguard-qr.png")


def tunnel_files(host: Host, device: str, folder: str) -> None:
    """The device's WireGuard config as a file and a QR code in its folder on this machine,
    for the official app to import (both hold its private key: mode 0600)."""
    config = tunnel_config(host, device)
    if config is None:
        for name in TUNNEL_FILES:
            local_file_absent(name=f"No {name} (no tunnel)", path=f"{folder}/{name}")
        return
    local_file(name="WireGuard config (secret)", path=f"{folder}/SECRET-wireguard.conf", mode=0o600, content=config)
    local_file(name="QR code: WireGuard config (secret)", path=f"{folder}/SECRET-wireguard-qr.png", mode=0o600,
               content=Secret(qr_png(config.reveal())))
