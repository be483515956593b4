"""The inventory's checks: every host's merged data against its role's schema, and the
checks across hosts (names, addresses, the GPU plans, tokens). Each problem names the
host, the key, what is wrong and how to fix it, in the file where the value is set.
homelab.inventory_loading runs them once, before pyinfra connects to anything.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pyinfra.api.host import Host
from pyinfra.api.inventory import Inventory

from homelab import devices, k3s, pins, tunnel_peers, watcher
from homelab.host_settings import remember, role_data, role_of
from homelab.secrets_store import ONE_WORD, MissingSecret, SecretsStore, env_name, is_token, token_fix, token_problem
from homelab.settings import LIMITS, ROLE_SCHEMAS, Common, GpuNode
from homelab.stack import cluster_secrets

# Keys a person sets per device, in the host's entry of inventory.py; the rest belong
# in group_data/<group>.py.
PER_HOST_KEYS = {"lan_address", "ssh_hostname", "ssh_user", "ssh_key", "wol_mac", "owner_device", "windows_profile_dir"}

_TYPE_EXAMPLES = {
    "int_type": ("a whole number", "8080"),
    "string_type": ("a string", "'text' in quotes"),
    "bool_type": ("True or False", "True"),
    "list_type": ("a list", "[...]"),
    "dict_type": ("a mapping", "{...}"),
    "model_type": ("a mapping", "{...}"),
}

_PATTERN_HINTS = {
    "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$": "lowercase letters, digits and '-', at most 63 characters",
    r"^[\w.-]+/[\w.-]+$": "a Hugging Face repository id like 'owner/name'",
    "^[0-9a-f]{40}$": "the full commit hash, 40 lowercase hex digits like '607a30d783dfa663caf39e06633721c8d4cfcd7e' "
                      "(a branch or tag would move: copy the commit from the repository's history)",
    "^[0-9a-f]{64}$": "a sha256, 64 lowercase hex digits",
    "^[A-Za-z0-9][A-Za-z0-9._-]*$": "a WSL distribution name as `wsl -l -v` shows it, like 'Ubuntu-22.04' "
                                    "(letters, digits, '.', '_', '-')",
    "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$": "a user name like 'owner' (letters, digits, '_', '.', '-', not starting "
                                          "with '-' or '.', at most 32 characters)",
    "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$": "a MAC address in lowercase with colons, like 'a8:a1:59:01:23:45' "
                                      "(Windows' `getmac` shows A8-A1-59-01-23-45)",
    r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]*\.exe$": "a program's file name as Task Manager shows it, like 'eldenring.exe' "
                                              "(no folder, no quotes)",
}


@dataclass(frozen=True)
class Problem:
    host: str
    key: str
    what: str
    fix: str
    also: tuple[str, ...] = ()  # other hosts with the same mistake (it sits in a group file)

    def __str__(self) -> str:
        hosts = f"host {self.host!r}" + (f" (and {', '.join(repr(h) for h in self.also)})" if self.also else "")
        return f"{hosts}, key '{self.key}': {self.what}\n      fix: {self.fix}"


def _merge_same(problems: list[Problem]) -> list[Problem]:
    """One entry for a mistake in a group file, naming every host it hits."""
    merged: dict[tuple[str, str, str], list[str]] = {}
    for p in problems:
        merged.setdefault((p.key, p.what, p.fix), []).append(p.host)
    return [Problem(hosts[0], key, what, fix, tuple(hosts[1:])) for (key, what, fix), hosts in merged.items()]


class InvalidInventory(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = _merge_same(problems)
        super().__init__(self.report())

    def report(self) -> str:
        count = len(self.problems)
        head = (f"homelab: the inventory has {count} problem{'s' if count != 1 else ''}; nothing was run, "
                "no host was touched.")
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


def _source_of(inventory: Inventory, host: Host, key: str, inventory_name: str) -> str:
    if key in inventory.override_data:
        return "the --data option of this command"
    if key in inventory.get_host_data(host.name):
        return f"the host's entry in {inventory_name}"
    for group in reversed(host.groups):
        if key in inventory.get_group_data(group):  # type: ignore[no-untyped-call]  # unannotated in pyinfra
            return f"group_data/{group}.py"
    return "group_data/all.py"


def _place_for(key: str, role: str, inventory_name: str) -> str:
    return f"the host's entry in {inventory_name}" if key in PER_HOST_KEYS else f"group_data/{role}.py"


def _describe(err: ErrorDetails, known_keys: list[str]) -> tuple[str, str]:
    """What is wrong with one value, and how to fix it (without the place)."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    key = str(err["loc"][-1])
    if kind == "missing":
        return "is required but not set", "set it"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(key, known_keys, n=1)
        if close:
            return "is not a known setting", f"did you mean '{close[0]}'? rename it"
        return "is not a known setting", "remove it (or check the spelling)"
    if kind in _TYPE_EXAMPLES:
        expected, example = _TYPE_EXAMPLES[kind]
        return (f"must be {expected}, got {type(value).__name__} {value!r}", f"write it as {example}")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        if key.removeprefix("api_").removeprefix("open_webui_") in LIMITS:
            return f"{value!r} is not a limit", "use a positive whole number, or None for no limit"
        if key.endswith("port"):
            return f"{value!r} is not a port", "use a port number from 1 to 65535"
        return f"{value!r} is out of range ({err['msg'].lower()})", "change the value"
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(ctx.get("pattern", ""), f"the pattern {ctx.get('pattern')}")
        return f"{value!r} has the wrong form", f"write it as {hint}"
    if kind == "literal_error":
        return f"{value!r} is not allowed", f"use one of {ctx.get('expected')}"
    if kind == "too_short":
        return "must not be empty", "add at least one entry"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"])), "correct the value"
    return err["msg"], "correct the value"


def _key_path(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """('models', 2, 'kind') -> "models[2:'clip'].kind" so the entry can be found."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            name = node[item].get("name") if isinstance(node, list) and isinstance(node[item], dict) else None
            parts[-1] += f"[{item}{':' + repr(name) if name else ''}]"
            node = node[item] if isinstance(node, list) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def _validate_host(inventory: Inventory, host: Host, inventory_name: str) -> tuple[Common | None, list[Problem]]:
    role = role_of(host)
    if role is None:
        groups = sorted({g for g in host.groups if g in ROLE_SCHEMAS})
        what = f"is in {groups}" if groups else "is in no device group"
        return None, [
            Problem(host.name, "(groups)", f"{what}; a host belongs to exactly one of {sorted(ROLE_SCHEMAS)}",
                    f"list it in exactly one of those groups in {inventory_name}")
        ]
    schema = ROLE_SCHEMAS[role]
    data = role_data(host, role)
    known = sorted(f.alias or name for name, f in schema.model_fields.items())
    try:
        return schema.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            top = str(err["loc"][0]) if err["loc"] else "(data)"
            what, fix = _describe(err, known)
            if err["type"] == "missing":
                where = _place_for(top, role, inventory_name)
            else:
                where = _source_of(inventory, host, top, inventory_name)
            problems.append(Problem(host.name, _key_path(err["loc"], data), what, f"{fix} in {where}"))
        return None, problems


def _cross_checks(settings: dict[str, Common]) -> list[Problem]:
    problems = []
    for name, cfg in settings.items():
        catalogue = [m.name for m in cfg.models]
        for index, model_name in enumerate(catalogue):
            if model_name in catalogue[:index]:
                problems.append(Problem(name, f"models[{index}].name", f"{model_name!r} is listed twice",
                                        "give each catalogue entry its own name in group_data/all.py"))
        wanted = getattr(cfg, "default_model", None)
        entry = next((m for m in cfg.models if m.name == wanted), None)
        chat_models = [m.name for m in cfg.models if m.enabled and m.kind != "embedding"]
        if wanted is not None and entry is None:
            problems.append(Problem(name, "default_model", f"{wanted!r} is not in the model catalogue",
                                    f"use one of {catalogue}, or add the model to `models` in group_data/all.py"))
        elif entry is not None and (not entry.enabled or entry.kind == "embedding"):
            why = "is switched off (enabled: False)" if not entry.enabled else "is an embedding model, it cannot chat"
            problems.append(Problem(name, "default_model", f"{wanted!r} {why}", f"use one of {chat_models}"))
    gpu_nodes = {name: cfg for name, cfg in settings.items() if isinstance(cfg, GpuNode)}
    if gpu_nodes:
        problems.extend(_gpu_node_checks(gpu_nodes))
    addresses: dict[str, str] = {}
    for name, cfg in settings.items():
        address = getattr(cfg, "lan_address", None)
        if address is None:
            continue
        if address in addresses:
            problems.append(Problem(name, "lan_address", f"{address} is also the address of '{addresses[address]}'",
                                    "give every device its own address in inventory.py"))
        addresses.setdefault(address, name)
    return problems


def _gpu_node_checks(nodes: dict[str, GpuNode]) -> list[Problem]:
    """Every GPU node's VRAM plan and RAM and CPU plan; models placed on GPU nodes that exist."""
    from homelab import capacity
    from homelab.stack.common import StackContext

    problems = []
    server = next(iter(nodes))
    server_release = pins.k3s_release(nodes[server].k3s_version)
    for name, cfg in nodes.items():
        if pins.k3s_release(cfg.k3s_version) > server_release:
            problems.append(Problem(name, "k3s_version", f"{cfg.k3s_version} is newer than the k3s server's "
                                    f"({server}) {nodes[server].k3s_version}: an agent is never newer than its server",
                                    "pin the agent at or below the server's release (upgrade the server first)"))
    for index, model in enumerate(nodes[server].models):
        if model.gpu_node is not None and model.gpu_node not in nodes:
            problems.append(Problem(server, f"models[{index}].gpu_node", f"{model.gpu_node!r} is not a GPU node",
                                    f"use one of {sorted(nodes)} (the gpu_nodes group of the inventory), or remove it "
                                    "to serve the model on the k3s server"))
    if problems:
        return problems
    ctx = StackContext(nodes=nodes)
    capacity_plans = capacity.plan(ctx)
    for name, cfg in nodes.items():
        plan = ctx.plans[name]
        if not plan.fits:
            table = plan.table().replace("\n", "\n        ")
            problems.append(Problem(name, "models", f"the models placed on this GPU do not fit it:\n        {table}",
                                    plan.advice()))
        node_plan = capacity_plans[name]
        if not node_plan.fits:
            table = node_plan.table().replace("\n", "\n        ")
            problems.append(Problem(name, "pc_memory_gib", f"the stack does not fit the PC's RAM and CPU next to "
                                    f"Windows:\n        {table}", node_plan.advice()))
        if cfg.llm_d_enabled and not cfg.llm_d_crds_sha256:
            problems.append(Problem(name, "llm_d_crds_sha256", "llm-d is switched on but its CRDs' checksum is not set",
                                    "set it to the sha256 of llm_d_crds_url in group_data/gpu_nodes.py"))
    return problems


_TUNNEL_KEYS = ("wireguard_endpoint", "wireguard_port", "wireguard_subnet", "wireguard_lan_access")


def _tunnel_checks(inventory: Inventory, settings: dict[str, Common]) -> list[Problem]:
    """Remote access: one tunnel setting for all, a Le Potato to run it, a subnet that is
    not the LAN, forwarded ports that do not collide, peers that are not the board."""
    if not settings or not any(cfg.wireguard_endpoint for cfg in settings.values()):
        return []
    problems = []
    first_name, first = next(iter(settings.items()))
    for name, cfg in settings.items():
        for key in _TUNNEL_KEYS:
            if getattr(cfg, key) != getattr(first, key):
                problems.append(Problem(name, key, f"differs from {first_name}'s: every device must agree on "
                                        "the tunnel", "set it once in group_data/all.py, not per device or group"))
    boards = [h for h in inventory.get_group("le_potato", []) if h.name in settings]
    if not boards:
        return problems + [Problem(first_name, "wireguard_endpoint", "the tunnel runs on the Le Potato, and the "
                                   "inventory has none", "add the board to le_potato in inventory.py, or set "
                                   "wireguard_endpoint = None in group_data/all.py")]
    subnet = ipaddress.ip_network(first.wireguard_subnet)
    board_cfg = settings[boards[0].name]
    for name, cfg in settings.items():
        address = getattr(cfg, "lan_address", None)
        if address and ipaddress.ip_address(address) in subnet:
            problems.append(Problem(name, "wireguard_subnet", f"{subnet} holds {name}'s LAN address {address}",
                                    "choose a tunnel subnet apart from the LAN in group_data/all.py, like "
                                    "'10.99.0.0/24'"))
        for network in getattr(cfg, "gateway_allowlist", []):
            if ipaddress.ip_network(network, strict=False).overlaps(subnet):
                problems.append(Problem(name, "wireguard_subnet", f"{subnet} overlaps the gateway's allowlist "
                                        f"entry {network} (the LAN)", "choose a tunnel subnet apart from the LAN in "
                                        "group_data/all.py, like '10.99.0.0/24'"))
        allowlist = [ipaddress.ip_network(n, strict=False) for n in getattr(cfg, "gateway_allowlist", [])]
        if allowlist and board_cfg.lan_address and not any(
                ipaddress.ip_address(board_cfg.lan_address) in n for n in allowlist):
            problems.append(Problem(name, "gateway_allowlist", f"the tunnel's traffic comes from the Le Potato "
                                    f"({board_cfg.lan_address}), which the allowlist leaves out",
                                    "add the LAN (or the board's address) to gateway_allowlist"))
    servers = k3s.gpu_nodes(inventory)[:1]
    if servers and servers[0].name in settings:
        server = settings[servers[0].name]
        taken = {getattr(server, "gateway_port", None): "the gateway"}
        if getattr(server, "open_webui_enabled", False):
            taken[getattr(server, "open_webui_port", None)] = "Open WebUI"
        for index, service in enumerate(first.wireguard_lan_access):
            port = int(service.rpartition(":")[2])
            if port in taken:
                problems.append(Problem(first_name, f"wireguard_lan_access[{index}]", f"port {port} is already "
                                        f"{taken[port]}'s on the board's tunnel address",
                                        "use a service on another port"))
            taken[port] = service
    board_names = {h.name for h in boards}
    for host in inventory:
        if _is_api_client(host) and devices.device_name(host) in board_names:
            problems.append(Problem(host.name, "(device name)", f"the tunnel peer {devices.device_name(host)!r} "
                                    "has the Le Potato's name (they would share one WireGuard key)",
                                    "rename the device or the board in inventory.py"))
    return problems


# Host and device names become hostnames, Kubernetes node and object names, file and
# folder names, lines of systemd, Caddy and Prometheus files, and environment variables.
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _is_api_client(host: Host) -> bool:
    return any(group in host.groups for group in devices.API_CLIENT_GROUPS)


def _name_checks(inventory: Inventory, inventory_name: str) -> list[Problem]:
    """Every host's name a DNS label (connector names like @local aside: their device
    name counts), and no two API devices on one token variable."""
    problems = []
    by_variable: dict[str, list[tuple[str, str]]] = {}
    for host in inventory:
        api = _is_api_client(host)
        name = devices.device_name(host) if api else host.name
        if not name.startswith("@") and not _DNS_LABEL.fullmatch(name):
            problems.append(Problem(host.name, "(device name)" if api else "(host name)",
                                    f"{name!r} is not a DNS label (it becomes a hostname, Kubernetes and file names, "
                                    "lines in config files)",
                                    f"rename it in {inventory_name}: lowercase letters, digits and '-', at most 63 "
                                    "characters, not starting or ending with '-'"))
        if api:
            by_variable.setdefault(devices.token_env(name), []).append((host.name, name))
    for variable, hosts in by_variable.items():
        if len(hosts) > 1:
            names = " and ".join(repr(name) for _, name in hosts)
            for host_name, _ in hosts:  # one entry naming every host (merged by InvalidInventory)
                problems.append(Problem(host_name, "(device name)",
                                        f"devices {names} share one token variable, {variable} (and one secret, "
                                        f"{env_name(devices.token_key(hosts[0][1]))}): the gateway cannot tell "
                                        "them apart",
                                        f"rename one of them in {inventory_name}"))
    return problems


_check_secrets = True


@contextmanager
def secrets_unchecked() -> Iterator[None]:
    """Load an inventory for a task that repairs tokens (tasks.py keys rotate): its data
    is still checked, its tokens are not, or the fix could not run."""
    global _check_secrets
    _check_secrets = False
    try:
        yield
    finally:
        _check_secrets = True


def _secret_checks(inventory: Inventory, settings: dict[str, Common]) -> list[Problem]:
    """Tokens from the secrets store or HOMELAB_SECRET_* that are set already (generated
    ones are made right): each must be a token the gateway's Caddyfile can carry."""
    if not _check_secrets:
        return []
    wanted: list[tuple[str, str]] = []  # (host, secret name)
    for host in inventory:
        if host.name in settings and _is_api_client(host):
            device = devices.device_name(host)
            wanted.append((host.name, devices.token_key(device)))
    servers = k3s.gpu_nodes(inventory)[:1]
    if servers and servers[0].name in settings:
        wanted += [(servers[0].name, name) for name in (*cluster_secrets.GENERATED_KEYS, "hf_token", "k3s_token")
                   if is_token(name) or name in ONE_WORD]
    for potato in inventory.get_group("le_potato", []):
        if potato.name in settings and getattr(settings[potato.name], "watcher_enabled", False):
            wanted += [(potato.name, name) for name in (watcher.TOKEN_SECRET, watcher.NTFY_URL_SECRET,
                                                        watcher.NTFY_TOKEN_SECRET)]
    boards = [h for h in inventory.get_group("le_potato", []) if h.name in settings]
    if boards and settings[boards[0].name].wireguard_endpoint:
        board = boards[0].name
        wanted += [(board, tunnel_peers.key_secret(name)) for name in (board, *devices.api_devices(inventory))]
        wanted += [(board, tunnel_peers.address_secret(name)) for name in devices.api_devices(inventory)]
    problems = []
    for host_name, name in wanted:
        store = SecretsStore(settings[host_name].secrets_file)
        try:
            found = store.lookup(name)
            revoked = name.startswith("device_token.") and store.has(devices.revoked_key(name.split(".", 1)[1]))
        except (MissingSecret, yaml.YAMLError, OSError) as exc:
            problems.append(Problem(host_name, "secrets_file", f"{store.path} cannot be read: {exc}",
                                    "repair the file (a YAML mapping of name: value) or move it away"))
            continue
        if found is None or revoked:
            continue
        value, from_env = found
        problem = token_problem(name, value)
        if problem:
            where = f"environment variable {env_name(name)}" if from_env else f"secrets store {store.path}"
            problems.append(Problem(host_name, name, f"the secret from the {where} {problem}",
                                    token_fix(name, from_env)))
    return problems


def _override_checks(inventory: Inventory) -> list[Problem]:
    """A `--data` key no device has a setting for is a typo (the others apply to the
    devices that know them)."""
    known = sorted({f.alias or name for schema in ROLE_SCHEMAS.values() for name, f in schema.model_fields.items()})
    problems = []
    for key in inventory.override_data:
        if key not in known and not key.startswith("_"):  # _sudo and friends are pyinfra's own
            close = difflib.get_close_matches(key, known, n=1)
            problems.append(Problem("(all)", key, "is not a setting of any device",
                                    f"did you mean '{close[0]}'? fix the --data option of this command" if close
                                    else "remove it from the --data option of this command"))
    return problems


def validate_inventory(inventory: Inventory, inventory_name: str = "inventory.py") -> dict[str, Common]:
    """Typed settings of every host, or InvalidInventory listing every problem."""
    settings: dict[str, Common] = {}
    problems: list[Problem] = []
    for host in inventory:
        cfg, host_problems = _validate_host(inventory, host, inventory_name)
        problems.extend(host_problems)
        if cfg is not None:
            settings[host.name] = cfg
            remember(host, cfg)
    problems.extend(_cross_checks(settings))
    problems.extend(_name_checks(inventory, inventory_name))
    problems.extend(_tunnel_checks(inventory, settings))
    problems.extend(_override_checks(inventory))
    problems.extend(_secret_checks(inventory, settings))
    if problems:
        raise InvalidInventory(problems)
    return settings
