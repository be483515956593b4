"""An iPad (no SSH): its files rendered on the control machine into a folder per device:
a configuration profile with the gateway's root CA (when HTTPS is on) and a Web Clip to
Open WebUI, QR codes of the base URL and (marked secret) of the token, and a page that
walks the owner through installing and trusting it all."""

from __future__ import annotations

import plistlib
import ssl
import uuid

from pyinfra import logger
from pyinfra.context import host

from homelab import client_setup, k3s
from homelab.client_setup import qr_png
from homelab.components import deploy
from homelab.host_settings import settings_for
from homelab.operations.local import local_directory, local_file
from homelab.rendering import render
from homelab.secrets_store import Secret
from homelab.settings import GpuNode, Ipad

CA_NAME = "homelab gateway root CA"


def _uuid(site: str, device: str, payload: str) -> str:
    """Stable, so that an unchanged profile renders byte for byte the same."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"homelab:{site}:{device}:{payload}")).upper()


def mobileconfig(site: str, device: str, webclip_url: str | None, root_ca_der: bytes | None) -> bytes:
    identifier = f"lab.{site}.{device}"
    payloads = []
    if root_ca_der:
        payloads.append({"PayloadType": "com.apple.security.root", "PayloadVersion": 1,
                         "PayloadIdentifier": f"{identifier}.root-ca", "PayloadUUID": _uuid(site, device, "root-ca"),
                         "PayloadDisplayName": CA_NAME, "PayloadCertificateFileName": "homelab-root-ca.cer",
                         "PayloadContent": root_ca_der})
    if webclip_url:
        payloads.append({"PayloadType": "com.apple.webClip.managed", "PayloadVersion": 1,
                         "PayloadIdentifier": f"{identifier}.webclip", "PayloadUUID": _uuid(site, device, "webclip"),
                         "PayloadDisplayName": "Open WebUI", "URL": webclip_url, "Label": f"{site} AI",
                         "FullScreen": True, "IsRemovable": True})
    profile = {"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": identifier,
               "PayloadUUID": _uuid(site, device, "profile"), "PayloadDisplayName": f"{site} home lab",
               "PayloadDescription": "The home lab's AI service: its root certificate and Open WebUI.",
               "PayloadOrganization": site, "PayloadRemovalDisallowed": False, "PayloadContent": payloads}
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)


def root_ca_der(cfg: Ipad, server_name: str) -> bytes | None:
    pem = client_setup.gateway_root_ca(cfg, server_name)
    if not pem.is_file():
        logger.warning(f"{host.print_prefix}HTTPS is on but {pem} is not fetched yet: deploy the GPU node (once the "
                       "gateway has started), then the clients again; the profile goes without the CA until then")
        return None
    return ssl.PEM_cert_to_DER_cert(pem.read_text())


@deploy("iPad profile")
def ipad_profile() -> None:
    client = client_setup.client_for(host, Ipad)
    if client is None:
        return
    cfg, device, token, base_url = client.cfg, client.device, client.token, client.base_url
    server = settings_for(k3s.server_host(), GpuNode)
    folder = f"{cfg.client_files_dir}/{device}"
    webui = client_setup.open_webui_url()
    ca = root_ca_der(cfg, k3s.server_host().name) if server.gateway_tls else None
    # made on this machine: checked in-process, no command or fact per file
    local_directory(name="Device folder", path=folder, mode=0o700)
    local_file(name="homelab.mobileconfig", path=f"{folder}/homelab.mobileconfig",
               content=mobileconfig(cfg.site_name, device, webui, ca))
    local_file(name="QR code: base URL", path=f"{folder}/api-url-qr.png", content=qr_png(base_url))
    local_file(name="QR code: API token (secret)", path=f"{folder}/SECRET-api-token-qr.png", mode=0o600,
               content=Secret(qr_png(token.reveal())))
    client_setup.tunnel_files(host, device, folder)
    local_file(name="INSTALL.md", path=f"{folder}/INSTALL.md",
               content=render("clients", "INSTALL.md.j2", device=device, base_url=base_url, has_ca=ca is not None,
                              ca_name=CA_NAME, webclip_label=f"{cfg.site_name} AI", default_model=cfg.default_model,
                              models=[m.name for m in client.models],
                              tunnel=client_setup.tunnel_enabled(host),
                              away_base_url=client_setup.away_env(host).get("HOMELAB_AWAY_BASE_URL")))
