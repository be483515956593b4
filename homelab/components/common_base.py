"""The common base every SSH-managed Linux host gets (GPU node, Le Potato).

Hostname, timezone, a marker that says the host is managed and by what, and the apt
proxy setting when group data names one. Refuses hosts that are not Debian-like: every
component after it relies on apt and systemd.
"""

import re
from urllib.parse import urlsplit

from pyinfra.context import host

from homelab import host_state
from homelab.components import deploy
from homelab.guards import refuse
from homelab.host_settings import role_of, settings_for
from homelab.host_state import Query
from homelab.operations.files import ManagedFile, file_absent, file_merged, files_in_place, line_set, link_in_place
from homelab.operations.server import hostname_set
from homelab.rendering import render
from homelab.settings import Common, DebianHost

MARKER = "/etc/homelab-managed"
APT_PROXY_CONF = "/etc/apt/apt.conf.d/01homelab-proxy"
LOCALTIME = "/etc/localtime"
HOSTS = "/etc/hosts"


host_state.reads(DebianHost, Query(files={"/etc/timezone", "/etc/hostname", MARKER, APT_PROXY_CONF},
                                   links={LOCALTIME}, contents={HOSTS}))


@deploy("Common base")
def common_base() -> bool:
    """Returns False when the host was refused."""
    cfg = settings_for(host)
    state = host_state.snapshot(host)
    profile = state.profile
    if not host_state.is_debian_like(profile):
        refuse(f"not a Debian-like system (os-release ID={profile.get('os_id') or 'none'}); "
               "these deploys need Debian, Ubuntu or Armbian with apt and systemd")
        return False

    # On WSL the hostname comes from /etc/wsl.conf (written by the GPU node deploy).
    names = None
    if not host_state.is_wsl(cfg, profile):
        hostname_set(name="Hostname", hostname=host.name, known=profile["hostname"])
        names = ManagedFile("Hostname after a reboot", "/etc/hostname", f"{host.name}\n", mode="644")
        hosts = state.contents[HOSTS]
        file_merged(name="Hostname resolves locally", dest=HOSTS, current=hosts,
                    content=line_set(hosts, f"127.0.1.1\t{host.name}", re.compile(r"^127\.0\.1\.1\s").match))
    # Files, not timedatectl: timedated caches the zone and skips a "change" to the zone it
    # believes is set, so a hand-edited /etc/localtime would never be repaired.
    link_in_place(name="Timezone", path=LOCALTIME, target=f"/usr/share/zoneinfo/{cfg.timezone}",
                  known=state.links[LOCALTIME])
    # A proxy on this very host (the Le Potato's own cache) is set once it is installed.
    proxy = None if apt_proxy_is_this_host(cfg) else apt_proxy_file(cfg.apt_proxy_url)
    files_in_place(
        names,
        ManagedFile("Timezone name", "/etc/timezone", f"{cfg.timezone}\n", mode="644"),
        ManagedFile("Managed-by marker", MARKER, render("common_base", "homelab-managed.j2", site_name=cfg.site_name,
                                                        host_name=host.name, role=role_of(host)), mode="644"),
        proxy,
        known=state.files,
    )
    if not cfg.apt_proxy_url:
        file_absent(name="No apt proxy", path=APT_PROXY_CONF, known=state.file(APT_PROXY_CONF))
    return True


def apt_proxy_is_this_host(cfg: Common) -> bool:
    return bool(cfg.apt_proxy_url) and urlsplit(cfg.apt_proxy_url).hostname in {
        cfg.lan_address, host.name, "127.0.0.1", "localhost"}


def apt_proxy_file(url: str | None) -> ManagedFile | None:
    """apt fetches http repositories through `url`; https ones go direct (see template)."""
    if not url:
        return None
    return ManagedFile("apt proxy", APT_PROXY_CONF, render("common_base", "apt-proxy.conf.j2", apt_proxy_url=url))
