"""The typed schema of every host's data.

The values and their explanations live in group_data/ and inventory.py; this module
only says what shape they must have. Each device group has one model; a host is
checked against the model of the group it belongs to, after pyinfra has merged
all.py, the group file and the host's own entry.

Every model forbids unknown keys (a typo is an error, not a silently ignored
setting) and is strict (a port written as "8080" is a string, not a port).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address (write it like '192.168.1.50')") from None
    return value


def _ip_network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an address or network (write it like '192.168.1.0/24')") from None
    return value


def _named(chars: Iterable[str]) -> str:
    """Characters as a person reads them: "a newline", "';'"."""
    names = {" ": "a space", "\n": "a newline", "\r": "a carriage return", "\t": "a tab"}
    return ", ".join(names.get(c, repr(c)) for c in sorted(set(chars)))


# A host name (RFC 1123 labels, not all-numeric at the end) or an IP address: what ssh,
# a certificate's SANs and a URL's host may be. A leading '-' can never pass.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    return len(value) <= 253 and bool(_DNS_NAME.fullmatch(value)) and not value.rstrip(".").split(".")[-1].isdigit()


def _host(value: str) -> str:
    if not _is_host(value):
        option = " (a leading '-' would be read as an ssh option)" if value.startswith("-") else ""
        raise ValueError(f"{value!r} is not a host name or IP address{option} (write it like 'gpu-node.home.arpa' "
                         "or '192.168.1.50')")
    return value


def _tunnel_subnet(value: str) -> str:
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a network with its host bits zero (write it like '10.99.0.0/24')") from None
    if network.version != 4 or not network.is_private or not 16 <= network.prefixlen <= 29:
        raise ValueError(f"{value!r} must be a private IPv4 network from /16 to /29, like '10.99.0.0/24'")
    return value


def _lan_service(value: str) -> str:
    address, _, port = value.rpartition(":")
    try:
        ok = ipaddress.ip_address(address).version == 4 and port.isdigit() and 1 <= int(port) <= 65535
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{value!r} is not an IPv4 address and port (write it like '192.168.1.60:3142')")
    return value


# RFC 3986's characters without what apt.conf, sources.list, apt-cacher-ng's files, a
# systemd unit or a shell would read as syntax: whitespace, quotes, ';', '$', '(', ')',
# '#', '*', '!', braces, backslashes, control characters.
_URL_CHAR = re.compile(r"[A-Za-z0-9._~:/?@&=+,%\[\]-]")


def _http_url(value: str) -> str:
    bad = [c for c in value if not _URL_CHAR.fullmatch(c)]
    if bad:
        raise ValueError(f"{value!r} is not a plain http(s) URL: it contains {_named(bad)} (it is written into "
                         "apt, systemd and shell lines as it is; write it like 'http://192.168.1.60:3142/debian/')")
    parts = urlsplit(value)
    try:
        port_ok = parts.port != 0
    except ValueError:  # not a number, or beyond 65535
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not _is_host(parts.hostname) or not port_ok:
        raise ValueError(f"{value!r} is not an http(s) URL (write it like 'http://192.168.1.60:3142')")
    return value


def _timezone(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_]+(/[A-Za-z0-9_+-]+)*", value):
        raise ValueError(f"{value!r} is not a timezone name (write it like 'Europe/Berlin')")
    return value


_PATH_CHAR = re.compile(r"[A-Za-z0-9._/+-]")
# Windows user names may hold spaces and letters beyond ASCII, nothing else unusual.
_WINDOWS_PATH_CHAR = re.compile(r"[\w ./+-]")


def _absolute_path(value: str, allowed: re.Pattern[str], example: str, allowed_text: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path (write it like '{example}')")
    bad = [c for c in value if not allowed.fullmatch(c)]
    if bad:
        raise ValueError(f"{value!r} contains {_named(bad)}: a path here may hold only {allowed_text} "
                         f"(write it like '{example}')")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r} has a '..' segment (write the path without it, like '{example}')")
    return value


def _safe_path(value: str) -> str:
    return _absolute_path(value, _PATH_CHAR, "/var/cache/apt-cacher-ng", "letters, digits, '.', '_', '+', '-' and '/'")


def _windows_profile_path(value: str) -> str:
    return _absolute_path(value, _WINDOWS_PATH_CHAR, "/mnt/c/Users/owner",
                          "letters, digits, spaces, '.', '_', '+', '-' and '/'")


def _local_path(example: str) -> Callable[[str], str]:
    """A path on the control machine: any name the owner's file system takes, but no control
    characters (it reaches ssh's arguments, log lines and, quoted, shell lines) and no
    leading '-' (a program would read it as an option)."""
    def check(value: str) -> str:
        control = [c for c in value if ord(c) < 32 or ord(c) == 127]
        if control:
            raise ValueError(f"{value!r} contains {_named(control)} (write the path like '{example}')")
        if not value:
            raise ValueError(f"is empty (write the path like '{example}', or remove the key)")
        if value.startswith("-"):
            raise ValueError(f"{value!r} is not a path: a program would read a leading '-' as an option "
                             f"(write it like '{example}')")
        return value
    return check


Port = Annotated[int, Field(ge=1, le=65535)]
IPAddress = Annotated[str, AfterValidator(_ip_address)]
IPNetwork = Annotated[str, AfterValidator(_ip_network)]
# Written unquoted into apt, apt-cacher-ng and systemd files: the pattern is what keeps
# each one a single token there.
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Timezone = Annotated[str, AfterValidator(_timezone)]
Host = Annotated[str, AfterValidator(_host)]
TunnelSubnet = Annotated[str, AfterValidator(_tunnel_subnet)]
LanService = Annotated[str, AfterValidator(_lan_service)]  # "address:port" in nftables rules
# A directory on a Linux host: it reaches systemd units, config lines and shell commands.
SafePath = Annotated[str, AfterValidator(_safe_path)]
# Files and folders on the control machine (the MacBook)
LocalFile = Annotated[str, AfterValidator(_local_path("~/.ssh/id_ed25519"))]
LocalPath = Annotated[str, AfterValidator(_local_path("~/homelab/build"))]
# Host names double as Kubernetes object names and DNS labels.
DeviceName = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
Version = Annotated[str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+~:_-]*$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Arch = Literal["amd64", "arm64"]
# A file name or glob of a model's weights in its repository ("*.safetensors", "pytorch_model.bin").
WeightPattern = Annotated[str, Field(pattern=r"^[A-Za-z0-9*?_.-]+$")]
def _image(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*:[A-Za-z0-9._-]+", value) or value.endswith(":latest"):
        raise ValueError(f"{value!r} is not an image with a pinned tag (write it like 'vllm/vllm-openai:v0.11.0')")
    return value


# An image with an explicit tag: "latest" or no tag would drift.
Image = Annotated[str, AfterValidator(_image)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class CatalogueModel(Strict):
    """One entry of the model catalogue (group_data/all.py, `models`)."""

    name: DeviceName
    hf_repo: Annotated[str, Field(pattern=r"^[\w.-]+/[\w.-]+$")]
    # A commit: a branch or tag name would move under a "pinned" model.
    revision: Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")]
    kind: Literal["completion", "chat", "embedding"]
    inputs: list[Literal["text", "image"]] = ["text"]
    dtype: Literal["float16", "bfloat16", "auto"] = "float16"
    weights_gib: Annotated[float, Field(gt=0, le=1024)]
    kv_layers: Annotated[int, Field(ge=1)] | None = None
    kv_heads: Annotated[int, Field(ge=1)] | None = None
    head_dim: Annotated[int, Field(ge=1)] | None = None
    max_model_len: Annotated[int, Field(ge=16)]
    max_num_seqs: Annotated[int, Field(ge=1, le=1024)]
    overhead_gib: Annotated[float, Field(ge=0, le=64)]
    chat_template: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]*\.jinja$")] | None = None
    lmcache_cpu_gib: Annotated[float, Field(ge=0, le=1024)] = 0
    weight_files: Annotated[list[WeightPattern], Field(min_length=1)] = ["*.safetensors"]
    host_memory_gib: Annotated[float, Field(gt=0, le=1024)] = 3.0
    cpu: Annotated[float, Field(gt=0, le=256)] = 1.0
    cpu_limit: Annotated[float, Field(gt=0, le=256)] = 4.0
    gpu_node: DeviceName | None = None
    enabled: bool = True
    # minutes without a request before the engine is unloaded; None: always loaded
    idle_minutes: Annotated[float, Field(gt=0, le=10080)] | None = None

    @property
    def on_demand(self) -> bool:
        return self.idle_minutes is not None

    @property
    def kv_bytes_per_token(self) -> int:
        """2 (K and V) x layers x KV heads x head size x 2 bytes (fp16/bf16)."""
        if self.kv_layers is None:
            return 0
        return 2 * self.kv_layers * (self.kv_heads or 0) * (self.head_dim or 0) * 2


class Common(Strict):
    """Keys every host has: pyinfra's connection keys and the site-wide settings."""

    # pyinfra connection keys (https://docs.pyinfra.com/en/3.x/connectors/ssh.html)
    # `ssh` gets these as arguments too (tasks.py doctor, backup): never an option.
    ssh_hostname: Host | None = None
    ssh_port: Port = 22
    ssh_user: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")] | None = None
    ssh_key: LocalFile | None = None
    ssh_known_hosts_file: LocalFile | None = None
    ssh_strict_host_key_checking: Literal["yes", "accept-new"]
    ssh_connect_retries: Annotated[int, Field(ge=0, le=10)] = 0
    sudo: bool = Field(False, alias="_sudo")

    # all.py
    site_name: DeviceName
    timezone: Timezone
    secrets_file: LocalPath
    apt_proxy_url: HttpUrl | None  # inside quotes in apt.conf.d
    lan_address: IPAddress | None = None
    client_files_dir: LocalPath
    kubeconfig_path: LocalPath
    models: Annotated[list[CatalogueModel], Field(min_length=1)]
    # remote access (README "Away from home"): clients' configs and the Le Potato's endpoint
    wireguard_endpoint: Host | None  # in every client's config: Endpoint = host:port
    wireguard_port: Port
    wireguard_subnet: TunnelSubnet
    wireguard_lan_access: list[LanService]


class DebianHost(Common):
    """A Debian-like machine with systemd and apt, managed as root over SSH (the GPU node's
    Ubuntu in WSL2, the Le Potato's Armbian). The Termux phone is reached over SSH too,
    but has neither root nor systemd: it is a TermuxPhone."""

    lan_address: IPAddress  # required: other devices and the lab's allowlist use it


class GpuNode(DebianHost):
    """group_data/gpu_nodes.py"""

    wsl: bool | None
    # In the elevated PowerShell script and wsl.exe's command line.
    wsl_distribution: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    windows_profile_dir: Annotated[str, AfterValidator(_windows_profile_path)] | None
    pc_memory_gib: Annotated[float, Field(gt=0, le=4096)]
    pc_threads: Annotated[int, Field(ge=1, le=1024)]
    windows_memory_gib: Annotated[float, Field(ge=0, le=4096)]
    windows_threads: Annotated[int, Field(ge=0, le=1024)]
    wsl_swap_gib: Annotated[int, Field(ge=0, le=1024)]
    wsl_system_memory_gib: Annotated[float, Field(ge=0, le=64)]
    # Wake-on-LAN: the PC's wired network card (colons, like "a8:a1:59:01:23:45").
    wol_mac: Annotated[str, Field(pattern=r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")] | None = None
    # In the elevated PowerShell watcher, as single-quoted literals; Windows file names.
    game_executables: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]*\.exe$")]]
    game_watch_seconds: Annotated[int, Field(ge=2, le=600)]
    nvidia_toolkit_version: Version
    nvidia_toolkit_repo_url: HttpUrl  # a deb line in sources.list.d
    nvidia_toolkit_key_url: HttpUrl
    nvidia_toolkit_key_sha256: Sha256
    k3s_version: Annotated[str, Field(pattern=r"^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$")]
    k3s_sha256: dict[Arch, Sha256]
    k3s_airgap_images_sha256: dict[Arch, Sha256]
    k3s_release_url: HttpUrl
    k3s_artifacts_dir: LocalPath | None
    k3s_api_port: Port
    k3s_disable: list[Literal["traefik", "servicelb", "metrics-server", "local-storage", "coredns"]]
    k3s_write_kubeconfig_mode: Literal["0600", "0640", "0644"]
    k3s_extra_tls_san: list[Host]
    k3s_cluster_cidr: IPNetwork
    gateway_port: Port
    gateway_allowlist: Annotated[list[IPNetwork], Field(min_length=1)]
    gateway_tls: bool
    open_webui_port: Port
    gateway_body_limit_mb: Annotated[int, Field(ge=1, le=1024)]
    gateway_timeout_minutes: Annotated[int, Field(ge=1, le=240)]
    gateway_metrics_port: Port
    caddy_image: Image
    stack_namespace: DeviceName
    monitoring_namespace: DeviceName
    gateway_namespace: DeviceName
    gpu_vram_gib: Annotated[float, Field(gt=0, le=1024)]
    gpu_vram_headroom_gib: Annotated[float, Field(ge=0, le=64)]
    model_cache_path: SafePath  # hostPath, and a fact's shell command (doctor, --dry too)
    model_cache_size_gib: Annotated[int, Field(ge=1)]
    device_plugin_chart_version: Version
    vllm_stack_chart_version: Version
    kube_prometheus_stack_chart_version: Version
    open_webui_chart_version: Version
    vllm_image: Image
    vllm_router_image: Image
    litellm_image: Image
    router_routing_logic: Literal["roundrobin", "session", "prefixaware", "kvaware"]
    engine_start_wait_seconds: Annotated[int, Field(ge=1, le=7200)]
    monitoring_enabled: bool
    open_webui_enabled: bool
    open_webui_admin_email: Annotated[str, Field(pattern=r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$")]
    # Open WebUI is a tenant of its own (group_data/gpu_nodes.py)
    open_webui_requests_per_minute: Limit
    open_webui_tokens_per_minute: Limit
    open_webui_concurrent_requests: Limit
    open_webui_tokens_per_day: Limit
    open_webui_tokens_per_month: Limit
    quota_store_failure: Literal["open", "closed"]

    @property
    def open_webui_limits(self) -> dict[str, int | None]:
        return {name: getattr(self, f"open_webui_{name}") for name in LIMITS}
    llm_d_enabled: bool
    llm_d_chart_version: Version
    llm_d_crds_url: HttpUrl
    llm_d_crds_sha256: Sha256 | None
    prometheus_retention: Annotated[str, Field(pattern=r"^[0-9]+[smhdwy]$")]
    gpu_metrics_interval_seconds: Annotated[int, Field(ge=1, le=300)]
    wake_timeout_seconds: Annotated[int, Field(ge=1, le=3600)]
    waker_port: Port
    waker_check_seconds: Annotated[int, Field(ge=1, le=300)]


# A Prometheus/Alertmanager duration ("30s", "5m", "2h"): written into their YAML.
Duration = Annotated[str, Field(pattern=r"^[0-9]{1,4}(s|m|h|d)$")]


class AlertAfter(Strict):
    """How long each alert's condition must hold before it fires (its rule's `for:`)."""

    gateway_down: Duration
    gateway_door_open: Duration
    engine_down: Duration
    engine_held_while_paused: Duration
    gpu_lost: Duration
    disk_filling: Duration
    model_cache_filling: Duration
    pc_unreachable: Duration
    watcher_read_only: Duration
    quota_spent: Duration
    apt_cache_down: Duration
    cluster_unseen: Duration


class LePotato(DebianHost):
    """group_data/le_potato.py"""

    node_exporter_port: Port
    node_exporter_listen_address: IPAddress | None
    node_exporter_textfile_dir: SafePath  # in the exporter's ARGS="..." (/etc/default)
    node_exporter_version: Version | None
    apt_cache_port: Port
    apt_cache_dir: SafePath  # CacheDir: and the unit's RequiresMountsFor=
    apt_cache_expire_days: Annotated[int, Field(ge=1, le=365)]
    apt_cache_warn_percent: Annotated[int, Field(ge=1, le=100)]
    apt_cache_backends: dict[Literal["debian", "ubuntu", "ubuntu-ports"], HttpUrl]  # one line per backends file
    apt_cache_upstream_proxy: HttpUrl | None  # Proxy: in apt-cacher-ng's config
    apt_cache_version: Version | None
    watcher_enabled: bool
    watcher_prometheus_port: Port
    watcher_alertmanager_port: Port
    watcher_blackbox_port: Port
    watcher_retention: Annotated[str, Field(pattern=r"^[0-9]{1,4}[hdwy]$")]
    watcher_retention_size_mib: Annotated[int, Field(ge=64, le=1048576)]
    watcher_memory_max_mib: Annotated[int, Field(ge=128, le=4096)]
    watcher_scrape_interval: Duration
    alert_after: AlertAfter
    alert_group_wait: Duration
    alert_group_interval: Duration
    alert_repeat_interval: Duration
    alert_disk_min_free_percent: Annotated[int, Field(ge=1, le=50)]
    alert_model_cache_min_free_gib: Annotated[int, Field(ge=1, le=10240)]
    prometheus_version: Version | None
    alertmanager_version: Version | None
    blackbox_exporter_version: Version | None

    @property
    def node_exporter_address(self) -> str:
        return self.node_exporter_listen_address or self.lan_address


# A tenant's limit: a positive whole number, or None (no limit).
Limit = Annotated[int, Field(gt=0)] | None
# Each limit a tenant can have (files/litellm/homelab_tenants.py enforces them).
LIMITS = ("requests_per_minute", "tokens_per_minute", "concurrent_requests", "tokens_per_day", "tokens_per_month")


class ApiClient(Common):
    """A device that calls the API through the gateway, as a tenant with its own limits
    (defaults in its group's file, overrides in its inventory entry: api_<limit> = N or None)."""

    default_model: str
    api_requests_per_minute: Limit
    api_tokens_per_minute: Limit
    api_concurrent_requests: Limit
    api_tokens_per_day: Limit
    api_tokens_per_month: Limit

    @property
    def limits(self) -> dict[str, int | None]:
        return {name: getattr(self, f"api_{name}") for name in LIMITS}


class TermuxPhone(ApiClient):
    """group_data/termux_phones.py"""

    termux_packages: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.+-]*$")]]
    owner_device: bool


class Ipad(ApiClient):
    """group_data/ipads.py"""


class Macbook(ApiClient):
    """group_data/macbook.py"""

    client_home: LocalPath


# A host belongs to exactly one of these groups; the group decides its schema.
ROLE_SCHEMAS: dict[str, type[Common]] = {
    "gpu_nodes": GpuNode,
    "le_potato": LePotato,
    "termux_phones": TermuxPhone,
    "ipads": Ipad,
    "macbook": Macbook,
}
