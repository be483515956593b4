"""The Le Potato's apt cache: apt-cacher-ng with pinned backends, an expiry that suits an
SD card, an optional cache directory on USB storage, and a warning when it fills up.

HTTPS repositories: clients send them direct (templates/base/apt-proxy.conf.j2). A
repository the site wants cached, like NVIDIA's, is written on the client as
http://HTTPS///nvidia.github.io/..., which apt-cacher-ng fetches over HTTPS and caches;
apt still checks the repository's signature.
"""

from io import StringIO

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import files

from homelab.components.base import apt_proxy_is_this_host, apt_proxy_setting
from homelab.facts import FilesystemUsage
from homelab.operations import apt_installed, pinned
from homelab.paths import template
from homelab.services import keep_running
from homelab.validation import settings_for

CONF_DIR = "/etc/apt-cacher-ng"
EXPIRE_UNIT = "homelab-apt-cache-expire"


@deploy("apt cache")
def apt_cache():
    cfg = settings_for(host)
    usage = host.get_fact(FilesystemUsage, path=cfg.apt_cache_dir)
    if usage["used_percent"] >= cfg.apt_cache_warn_percent:
        logger.warning(
            f"{host.print_prefix}the apt cache's filesystem ({usage['mount']}, holding {cfg.apt_cache_dir}) is "
            f"{usage['used_percent']}% full, {usage['avail_kb'] // 1024} MiB free (warning from "
            f"{cfg.apt_cache_warn_percent}%): lower apt_cache_expire_days or move apt_cache_dir to USB storage")

    apt_installed(name="Install apt-cacher-ng", packages=[pinned("apt-cacher-ng", cfg.apt_cache_version)])
    # setgid as Debian ships it (chmod 755 would not clear the bit: a change every run)
    files.directory(name="Cache directory", path=cfg.apt_cache_dir, user="apt-cacher-ng", group="apt-cacher-ng",
                    mode="2755")
    configs = [
        files.template(name="apt-cacher-ng settings", src=template("apt_cache", "zz_homelab.conf.j2"),
                       dest=f"{CONF_DIR}/zz_homelab.conf", mode="644", port=cfg.apt_cache_port,
                       bind_address=cfg.lan_address, cache_dir=cfg.apt_cache_dir,
                       expire_days=cfg.apt_cache_expire_days, upstream_proxy=cfg.apt_cache_upstream_proxy),
        *(files.put(name=f"Pinned {distro} backend", src=StringIO(f"{url}\n"), dest=f"{CONF_DIR}/backends_{distro}",
                    mode="644")
          for distro, url in sorted(cfg.apt_cache_backends.items())),
    ]
    units = [files.template(name="apt-cacher-ng waits for its cache's mount",
                            src=template("apt_cache", "apt-cacher-ng.service.d.conf.j2"),
                            dest="/etc/systemd/system/apt-cacher-ng.service.d/homelab.conf", mode="644",
                            cache_dir=cfg.apt_cache_dir)]
    keep_running("apt-cacher-ng", configs=configs, units=units)

    expiry_units = [
        files.template(name=f"Expiry {suffix}", src=template("apt_cache", f"{EXPIRE_UNIT}.{suffix}.j2"),
                       dest=f"/etc/systemd/system/{EXPIRE_UNIT}.{suffix}", mode="644")
        for suffix in ("service", "timer")
    ]
    keep_running(f"{EXPIRE_UNIT}.timer", units=expiry_units)

    if apt_proxy_is_this_host(cfg):
        apt_proxy_setting(cfg.apt_proxy_url)
