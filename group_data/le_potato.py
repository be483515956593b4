"""The Le Potato: node exporter and the apt cache for the lab."""

# Run operations with sudo (Armbian's first-login wizard creates a sudo user).
_sudo = True

# Prometheus node exporter (Debian's prometheus-node-exporter package).
# Port it listens on; the GPU node's Prometheus scrapes it there.
node_exporter_port = 9100
# Address it listens on. None: the board's lan_address (not every interface).
node_exporter_listen_address = None
# Directory of the textfile collector: *.prom files here become metrics.
node_exporter_textfile_dir = "/var/lib/prometheus/node-exporter"
# Package version to hold, e.g. "1.5.0-1+b6"; None: the distribution's current one,
# so security updates keep flowing (apt upgrade).
node_exporter_version = None

# apt-cacher-ng: the apt cache every device's apt fetches through (apt_proxy_url).
apt_cache_port = 3142
# Where cached packages live. An SD card wears out: point this at USB storage, e.g.
# "/mnt/usb/apt-cacher-ng" (the service then waits for that mount at boot).
apt_cache_dir = "/var/cache/apt-cacher-ng"
# Files no index refers to any more are deleted after this many days (ExThreshold);
# apt-cacher-ng has no byte cap, so this is what keeps the cache small.
apt_cache_expire_days = 4
# The deploy warns when the cache directory's filesystem is fuller than this (percent).
apt_cache_warn_percent = 85
# Upstream mirrors per distribution, pinned so the cache never guesses a mirror.
apt_cache_backends = {
    "debian": "http://deb.debian.org/debian/",
    "ubuntu": "http://archive.ubuntu.com/ubuntu/",
    "ubuntu-ports": "http://ports.ubuntu.com/ubuntu-ports/",
}
# HTTP proxy apt-cacher-ng itself fetches through; None: it fetches directly.
apt_cache_upstream_proxy = None
# Package version to hold; None: the distribution's current one.
apt_cache_version = None

# The watcher: Debian's Prometheus, Alertmanager and blackbox exporter on the always-on
# board. It scrapes every device's node exporter, probes the gateway from the LAN (no
# token must get a 401: up, and the door closed) and the apt cache, reads the engines'
# and tenants' figures from the cluster's Prometheus through the gateway, and sends
# alerts to the owner's phone through ntfy (`python tasks.py secrets set ntfy_url`,
# README "Alerts on your phone"). Its ports answer on the board's loopback only.
watcher_enabled = True
watcher_prometheus_port = 9090
watcher_alertmanager_port = 9093
watcher_blackbox_port = 9115
# Sized for a 2 GB board: metrics kept this long, or until they take this much disk
# (whichever comes first), and Prometheus held under this much memory.
watcher_retention = "30d"
watcher_retention_size_mib = 1024
watcher_memory_max_mib = 384
# How often targets are scraped and rules evaluated.
watcher_scrape_interval = "30s"
# How long each alert's condition must hold before the phone hears of it.
alert_after = {
    "gateway_down": "5m",  # the PC answers, the gateway does not
    "gateway_door_open": "1m",  # a call without a token got anything but its 401
    "engine_down": "10m",  # an engine not ready while the AI side is serving (a start takes minutes)
    "engine_held_while_paused": "10m",  # paused, yet an engine's pod is still there, holding GPU memory
    "gpu_lost": "5m",  # nvidia-smi stopped answering on a GPU node
    "disk_filling": "30m",  # a file system of any node below alert_disk_min_free_percent
    "model_cache_filling": "30m",  # the model cache's file system below alert_model_cache_min_free_gib
    "pc_unreachable": "2h",  # info only: the PC may just be asleep
    "watcher_read_only": "2m",  # the board's own file system went read-only (a failing SD card)
    "quota_spent": "1m",  # a device used its day's or month's token quota
    "apt_cache_down": "15m",  # apt-cacher-ng does not answer
    "cluster_unseen": "15m",  # the PC answers, but the cluster's figures do not come through
}
# Alerts that fire together arrive as one message per alert name (and device): wait this
# long for the group to gather, this long between updates, and repeat a standing alert
# this often.
alert_group_wait = "30s"
alert_group_interval = "5m"
alert_repeat_interval = "12h"
# A file system is "filling" below this share free.
alert_disk_min_free_percent = 10
# The model cache's file system needs room for the next model's download.
alert_model_cache_min_free_gib = 20
# Package versions to hold; None: the distribution's current ones (bookworm: Prometheus
# 2.42, Alertmanager 0.25, blackbox exporter 0.23), so security updates keep flowing.
prometheus_version = None
alertmanager_version = None
blackbox_exporter_version = None
