"""The Le Potato's apt cache: apt-cacher-ng with pinned backends, an expiry that suits an
SD card, an optional cache directory on USB storage, and a warning when it fills up.

HTTPS repositories: clients send them direct (templates/common_base/apt-proxy.conf.j2). A
repository the site wants cached, like NVIDIA's, is written on the client as
http://HTTPS///nvidia.github.io/..., which apt-cacher-ng fetches over HTTPS and caches;
apt still checks the repository's signature.
"""

from pyinfra import logger
from pyinfra.context import host

from homelab import host_state
from homelab.components import deploy
from homelab.components.common_base import apt_proxy_file, apt_proxy_is_this_host
from homelab.host_settings import settings_for
from homelab.host_state import Query
from homelab.operations.files import ManagedFile, directory_in_place, files_in_place
from homelab.operations.packages import apt_installed, pinned
from homelab.rendering import render
from homelab.services import keep_running
from homelab.settings import LePotato

CONF_DIR = "/etc/apt-cacher-ng"
DROP_IN = "/etc/systemd/system/apt-cacher-ng.service.d"
EXPIRE_UNIT = "homelab-apt-cache-expire"


def files_of(cfg: LePotato) -> set[str]:
    expiry = {f"/etc/systemd/system/{EXPIRE_UNIT}.{suffix}" for suffix in ("service", "timer")}
    backends = {f"{CONF_DIR}/backends_{distro}" for distro in cfg.apt_cache_backends}
    return {f"{CONF_DIR}/zz_homelab.conf", f"{DROP_IN}/homelab.conf", *expiry, *backends}


host_state.reads(LePotato, lambda host_, cfg: Query(
    files=files_of(cfg), dirs={cfg.apt_cache_dir, DROP_IN}, disks={cfg.apt_cache_dir},
    units={"apt-cacher-ng", f"{EXPIRE_UNIT}.timer"}, packages={"apt-cacher-ng"}))


@deploy("apt cache")
def apt_cache() -> None:
    cfg = settings_for(host, LePotato)
    state = host_state.snapshot(host)
    usage = state.disks[cfg.apt_cache_dir]
    if usage["used_percent"] >= cfg.apt_cache_warn_percent:
        logger.warning(
            f"{host.print_prefix}the apt cache's filesystem ({usage['mount']}, holding {cfg.apt_cache_dir}) is "
            f"{usage['used_percent']}% full, {usage['avail_kb'] // 1024} MiB free (warning from "
            f"{cfg.apt_cache_warn_percent}%): lower apt_cache_expire_days or move apt_cache_dir to USB storage")

    apt_installed(name="Install apt-cacher-ng", packages=[pinned("apt-cacher-ng", cfg.apt_cache_version)],
                  installed=state.packages)
    # setgid as Debian ships it (chmod 755 would not clear the bit: a change every run)
    directory_in_place(name="Cache directory", path=cfg.apt_cache_dir, user="apt-cacher-ng", group="apt-cacher-ng",
                       mode="2755", known=state.dirs[cfg.apt_cache_dir])
    directory_in_place(name="Unit drop-in directory", path=DROP_IN, mode="755", known=state.dirs[DROP_IN])
    settings = ManagedFile("apt-cacher-ng settings", f"{CONF_DIR}/zz_homelab.conf", render(
        "apt_cache", "zz_homelab.conf.j2", port=cfg.apt_cache_port, bind_address=cfg.lan_address,
        cache_dir=cfg.apt_cache_dir, expire_days=cfg.apt_cache_expire_days,
        upstream_proxy=cfg.apt_cache_upstream_proxy))
    backends = [ManagedFile(f"Pinned {distro} backend", f"{CONF_DIR}/backends_{distro}", f"{url}\n")
                for distro, url in sorted(cfg.apt_cache_backends.items())]
    unit = ManagedFile("apt-cacher-ng waits for its cache's mount", f"{DROP_IN}/homelab.conf",
                       render("apt_cache", "apt-cacher-ng.service.d.conf.j2", cache_dir=cfg.apt_cache_dir))
    expiry = [ManagedFile(f"Expiry {suffix}", f"/etc/systemd/system/{EXPIRE_UNIT}.{suffix}",
                          render("apt_cache", f"{EXPIRE_UNIT}.{suffix}.j2")) for suffix in ("service", "timer")]
    # the Le Potato's own apt goes through its cache once the cache runs
    own_proxy = apt_proxy_file(cfg.apt_proxy_url) if apt_proxy_is_this_host(cfg) else None
    placed = files_in_place(settings, *backends, unit, *expiry, own_proxy, known=state.files)
    keep_running("apt-cacher-ng", state.unit("apt-cacher-ng"), configs=[placed[f] for f in (settings, *backends)],
                 units=[placed[unit]])
    keep_running(f"{EXPIRE_UNIT}.timer", state.unit(f"{EXPIRE_UNIT}.timer"), units=[placed[f] for f in expiry])
