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
