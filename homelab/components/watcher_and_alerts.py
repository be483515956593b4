"""The Le Potato keeps watch: Debian's Prometheus, Alertmanager and blackbox exporter,
sized for a 2 GB board, listening on its loopback only.

Prometheus scrapes every node exporter (the board's, the GPU nodes' from the cluster's
chart), probes each PC's SSH port (is the PC up?), the gateway without a token (it must
answer its 401: up, and the door closed) and the apt cache, and reads the engines' and
tenants' figures from the cluster's Prometheus through the gateway's /federate door.
Its rules (templates/watcher_and_alerts/homelab-rules.yml.j2) fire into Alertmanager, which sends
one message per alert group to the owner's ntfy topic (URL and token from the secrets
store, in a file only root and Prometheus's group read). The owner's phone asks what
fires now over SSH, with a key that can do nothing else (`homelab-alerts`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pyinfra import logger
from pyinfra.api.inventory import Inventory
from pyinfra.context import host

from homelab import client_setup, gpu_mode, host_state, k3s, watcher
from homelab.components import deploy
from homelab.components.restricted_account import query, restricted_account
from homelab.host_settings import secrets_store, settings_for
from homelab.host_state import Query
from homelab.operations.files import ManagedFile, directory_in_place, files_in_place
from homelab.operations.packages import apt_installed, pinned
from homelab.paths import FILES
from homelab.rendering import render
from homelab.secrets_store import Secret, SecretsStore
from homelab.services import keep_running
from homelab.settings import GpuNode, LePotato
from homelab.stack import monitoring
from homelab.stack.vllm import engine_deployment

PACKAGES = {"prometheus": "prometheus_version", "prometheus-alertmanager": "alertmanager_version",
            "prometheus-blackbox-exporter": "blackbox_exporter_version"}
SERVICES = tuple(PACKAGES)
# File systems that are not storage: memory, images, container layers.
IGNORED_FSTYPES = "tmpfs|ramfs|squashfs|overlay|nsfs|devtmpfs|fuse.lxcfs|fuse.snapfuse|erofs|iso9660"
HEADER = "# Managed by homelab (pyinfra): change group_data/le_potato.py instead.\n"


def drop_in(service: str) -> str:
    return f"/etc/systemd/system/{service}.service.d/homelab.conf"


def files_of() -> set[str]:
    return {watcher.PROMETHEUS_CONFIG, watcher.RULES, watcher.BLACKBOX_CONFIG, watcher.ALERTMANAGER_CONFIG,
            watcher.TOKEN_FILE, watcher.GATEWAY_CA, watcher.TOOL, watcher.REMOTE, watcher.CONFIG,
            *(f"/etc/default/{s}" for s in SERVICES), *(drop_in(s) for s in SERVICES)}


host_state.reads(LePotato, Query(
    files=files_of(), dirs={watcher.RULES_DIR, "/etc/homelab", *(str(Path(drop_in(s)).parent) for s in SERVICES)},
    units=set(SERVICES), packages=set(PACKAGES)).merge(query(watcher.ACCOUNT)),
    when=lambda host_, cfg: cfg.watcher_enabled)


# -- what the watcher watches -------------------------------------------------------------

def _probe(job: str, module: str, target: str, labels: dict[str, str], cfg: LePotato) -> dict[str, Any]:
    """A blackbox probe as Prometheus runs it: the target is a parameter, the exporter the address."""
    return {"job_name": job, "metrics_path": "/probe", "params": {"module": [module]},
            "static_configs": [{"targets": [target], "labels": labels}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": f"127.0.0.1:{cfg.watcher_blackbox_port}"}]}


def prometheus_config(cfg: LePotato, name: str, inventory_: Inventory) -> dict[str, Any]:
    nodes = [{"targets": [f"{cfg.node_exporter_address}:{cfg.node_exporter_port}"],
              "labels": {"host": name, "role": "le_potato"}}]
    pcs, gateways, cluster = [], [], []
    server = k3s.server_host(inventory_) if k3s.gpu_nodes(inventory_) else None
    for node in k3s.gpu_nodes(inventory_):
        node_cfg = settings_for(node, GpuNode)
        pcs.append((f"{node_cfg.lan_address}:{node_cfg.ssh_port}", node.name))
        if server is not None and settings_for(server, GpuNode).monitoring_enabled:
            nodes.append({"targets": [f"{node_cfg.lan_address}:{monitoring.NODE_EXPORTER_PORT}"],
                          "labels": {"host": node.name, "role": "gpu_node"}})
    scrape: list[dict[str, Any]] = [{"job_name": "node", "static_configs": nodes}]
    scrape += [_probe("pc", "ssh_answers", target, {"host": node}, cfg) for target, node in pcs]
    if server is not None:
        server_cfg = settings_for(server, GpuNode)
        gateways.append((client_setup.api_base_url_for(server_cfg) + "/models", server.name))
        if server_cfg.monitoring_enabled:
            cluster.append({"targets": [f"{server_cfg.lan_address}:{server_cfg.gateway_metrics_port}"],
                           "labels": {"host": server.name}})
    scrape += [_probe("gateway", "gateway_door_closed", url, {"host": node}, cfg) for url, node in gateways]
    scrape.append(_probe("apt-cache", "http_answers", f"http://{cfg.lan_address}:{cfg.apt_cache_port}/acng-report.html",
                         {"host": name}, cfg))
    if cluster:
        # the few series the rules need, through the gateway's narrow door (homelab/watcher.py)
        scrape.append({"job_name": "cluster", "metrics_path": "/federate", "honor_labels": True,
                       "authorization": {"type": "Bearer", "credentials_file": watcher.TOKEN_FILE},
                       "static_configs": cluster})
    scrape.append({"job_name": "watcher", "static_configs": [{"targets": [
        f"127.0.0.1:{port}" for port in (cfg.watcher_prometheus_port, cfg.watcher_alertmanager_port,
                                         cfg.watcher_blackbox_port)], "labels": {"host": name}}]})
    return {
        "global": {"scrape_interval": cfg.watcher_scrape_interval, "evaluation_interval": cfg.watcher_scrape_interval,
                   "external_labels": {"site": cfg.site_name}},
        "rule_files": [watcher.RULES],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{cfg.watcher_alertmanager_port}"]}]}]},
        "scrape_configs": scrape,
    }


def blackbox_config(gateway_ca: bool) -> dict[str, Any]:
    door: dict[str, Any] = {
        "method": "GET", "valid_status_codes": [401], "preferred_ip_protocol": "ip4",
        # the gateway's own refusal, not any 401 (something else on the port would give another)
        "fail_if_body_not_matches_regexp": ['"code":"invalid_api_key"'],
        "no_follow_redirects": True}
    if gateway_ca:
        door["tls_config"] = {"ca_file": watcher.GATEWAY_CA}
    return {"modules": {
        "gateway_door_closed": {"prober": "http", "timeout": "5s", "http": door},
        "http_answers": {"prober": "http", "timeout": "5s",
                         "http": {"method": "GET", "valid_status_codes": [200], "preferred_ip_protocol": "ip4",
                                  "no_follow_redirects": True}},
        "ssh_answers": {"prober": "tcp", "timeout": "5s",
                        "tcp": {"preferred_ip_protocol": "ip4", "query_response": [{"expect": "^SSH-2.0-"}]}},
    }}


def rules(cfg: LePotato, inventory_: Inventory) -> str:
    nodes = k3s.gpu_nodes(inventory_)
    server = nodes[0] if nodes else None
    server_cfg = settings_for(server, GpuNode) if server is not None else None
    engines = [engine_deployment(m) for m in cfg.models if m.enabled]
    return render("watcher_and_alerts", "homelab-rules.yml.j2", after=cfg.alert_after,
                  server=server.name if server is not None else "",
                  namespace=server_cfg.stack_namespace if server_cfg else "",
                  engines="|".join(engines) or "none",  # DeviceName-shaped: no regex syntax in them
                  ignored_fstypes=IGNORED_FSTYPES, disk_min_free_percent=cfg.alert_disk_min_free_percent,
                  model_cache_min_free_gib=cfg.alert_model_cache_min_free_gib,
                  model_cache_min_free_bytes=cfg.alert_model_cache_min_free_gib * 2**30)


# -- where alerts go --------------------------------------------------------------------

# ntfy's priorities (its docs: 5 max/urgent, 3 default, 2 low): a page rings, info is quiet.
PRIORITY = {"page": "urgent", "warning": "default", "info": "low"}


def ntfy_target(store: SecretsStore) -> tuple[str, Secret | None] | None:
    """(topic URL, access token or None) from the secrets store; None when no URL is set."""
    url = store.find(watcher.NTFY_URL_SECRET)
    if url is None:
        return None
    return url.reveal(), store.find(watcher.NTFY_TOKEN_SECRET)


def alertmanager_config(cfg: LePotato, ntfy: tuple[str, Secret | None] | None) -> str:
    """Alertmanager's configuration: one group per alert name and host, each severity to the
    topic at its ntfy priority, firing and resolved alike. Without a topic every alert
    still shows in doctor and on the phone's widget, and the deploy says where to set one."""
    receivers: list[dict[str, Any]] = []
    routes = []
    for severity, priority in PRIORITY.items():
        receiver: dict[str, Any] = {"name": f"phone-{severity}"}
        if ntfy is not None:
            url, token = ntfy
            hook: dict[str, Any] = {"url": f"{url}?template=alertmanager&priority={priority}",
                                    "send_resolved": True, "max_alerts": 20}
            if token is not None:
                hook["http_config"] = {"authorization": {"type": "Bearer", "credentials": token.reveal()}}
            receiver["webhook_configs"] = [hook]
        receivers.append(receiver)
        routes.append({"matchers": [f'severity="{severity}"'], "receiver": f"phone-{severity}"})
    config = {
        "route": {"receiver": "phone-warning", "group_by": ["alertname", "host"],
                  "group_wait": cfg.alert_group_wait, "group_interval": cfg.alert_group_interval,
                  "repeat_interval": cfg.alert_repeat_interval, "routes": routes},
        "receivers": receivers,
    }
    return HEADER + "# Holds the ntfy topic's URL and token: readable by root and Prometheus's group only.\n" + \
        yaml.safe_dump(config, sort_keys=False)


# -- the deploy -------------------------------------------------------------------------

def _default_args(cfg: LePotato) -> dict[str, str]:
    return {
        "prometheus": " ".join([
            f"--config.file={watcher.PROMETHEUS_CONFIG}", "--storage.tsdb.path=/var/lib/prometheus/metrics2/",
            f"--storage.tsdb.retention.time={cfg.watcher_retention}",
            f"--storage.tsdb.retention.size={cfg.watcher_retention_size_mib}MB",
            f"--web.listen-address=127.0.0.1:{cfg.watcher_prometheus_port}",
            # a 2 GB board: a runaway query fails instead of taking the board's memory
            "--query.max-samples=5000000", "--query.max-concurrency=4"]),
        "prometheus-alertmanager": " ".join([
            f"--config.file={watcher.ALERTMANAGER_CONFIG}", "--storage.path=/var/lib/prometheus/alertmanager/",
            f"--web.listen-address=127.0.0.1:{cfg.watcher_alertmanager_port}",
            # one Alertmanager: no cluster port on the LAN
            "--cluster.listen-address="]),
        "prometheus-blackbox-exporter": " ".join([
            f"--config.file={watcher.BLACKBOX_CONFIG}", f"--web.listen-address=127.0.0.1:{cfg.watcher_blackbox_port}"]),
    }


def _memory(cfg: LePotato) -> dict[str, int]:
    return {"prometheus": cfg.watcher_memory_max_mib, "prometheus-alertmanager": 96, "prometheus-blackbox-exporter": 64}


@deploy("Watcher")
def watcher_and_alerts() -> None:
    cfg = settings_for(host, LePotato)
    state = host_state.snapshot(host)
    store = secrets_store(host)
    ntfy = ntfy_target(store)  # its shape is checked with the inventory, before any host is touched
    if ntfy is None:
        logger.warning(f"{host.print_prefix}alerts have nowhere to go: no ntfy topic in the secrets store. Fix: "
                       f"`python tasks.py secrets set {watcher.NTFY_URL_SECRET}` (README: Alerts on your phone)")

    apt_installed(name="Install Prometheus, Alertmanager and the blackbox exporter",
                  packages=[pinned(p, getattr(cfg, field)) for p, field in PACKAGES.items()], installed=state.packages)
    directory_in_place(name="Rules directory", path=watcher.RULES_DIR, mode="755", known=state.dirs[watcher.RULES_DIR])
    for service in SERVICES:
        directory = str(Path(drop_in(service)).parent)
        directory_in_place(name=f"{service} drop-in directory", path=directory, mode="755",
                           known=state.dirs[directory])
    directory_in_place(name="/etc/homelab", path="/etc/homelab", mode="755", known=state.dirs["/etc/homelab"])

    server = k3s.server_host(host.inventory) if k3s.gpu_nodes(host.inventory) else None
    root_ca = client_setup.gateway_root_ca(cfg, server.name) if server is not None else None
    tls = server is not None and settings_for(server, GpuNode).gateway_tls
    ship_ca = tls and root_ca is not None and root_ca.is_file()
    if tls and not ship_ca:
        logger.warning(f"{host.print_prefix}the gateway's root CA is not on this machine yet: the gateway probe "
                       "fails until the GPU node deploy has fetched it and this deploy runs again")

    private: dict[str, Any] = {"mode": "640", "user": "root", "group": "prometheus"}
    token = store.get_or_make(watcher.TOKEN_SECRET)
    options = {s: ManagedFile(f"{s} options", f"/etc/default/{s}", f'{HEADER}ARGS="{args}"\n')
               for s, args in _default_args(cfg).items()}
    units = {s: ManagedFile(f"{s}: memory cap, restart", drop_in(s), render(
        "watcher_and_alerts", "service.d.conf.j2", memory_mib=mib,
        # Go's collector keeps the heap under this before the cgroup's cap is reached
        go_memory_limit_mib=mib * 3 // 4)) for s, mib in _memory(cfg).items()}
    prometheus = [
        ManagedFile("Prometheus: what it watches", watcher.PROMETHEUS_CONFIG,
                    HEADER + yaml.safe_dump(prometheus_config(cfg, host.name, host.inventory), sort_keys=False)),
        ManagedFile("Alert rules", watcher.RULES, rules(cfg, host.inventory)),
        ManagedFile("Token for the cluster's figures", watcher.TOKEN_FILE, Secret(token.reveal() + "\n"), **private),
        ManagedFile("Gateway root CA", watcher.GATEWAY_CA, root_ca.read_text()) if ship_ca and root_ca else None,
    ]
    blackbox = ManagedFile("Blackbox probes", watcher.BLACKBOX_CONFIG,
                           HEADER + yaml.safe_dump(blackbox_config(ship_ca), sort_keys=False))
    alertmanager = ManagedFile("Alertmanager: where alerts go", watcher.ALERTMANAGER_CONFIG,
                               Secret(alertmanager_config(cfg, ntfy)), **private)
    keys = gpu_mode.owner_keys(host.inventory, store)
    keys_file = restricted_account(watcher.ACCOUNT, watcher.REMOTE, keys, state)
    tools = [ManagedFile(name, path, (FILES / "watcher" / name).read_text(), mode="755")
             for name, path in (("homelab-alerts", watcher.TOOL), ("homelab-alerts-remote", watcher.REMOTE))]
    tools += [ManagedFile("Where homelab-alerts asks", watcher.CONFIG,
                          f'{{"alertmanager": "http://127.0.0.1:{cfg.watcher_alertmanager_port}"}}\n'), keys_file]
    placed = files_in_place(*options.values(), *units.values(), *prometheus, blackbox, alertmanager, *tools,
                            known=state.files)
    configs = {"prometheus": [options["prometheus"], *(f for f in prometheus if f is not None)],
               "prometheus-alertmanager": [options["prometheus-alertmanager"], alertmanager],
               "prometheus-blackbox-exporter": [options["prometheus-blackbox-exporter"], blackbox]}
    for service in SERVICES:
        keep_running(service, state.unit(service), configs=[placed[f] for f in configs[service]],
                     units=[placed[units[service]]])
