"""A host's typed settings: its group data, merged by pyinfra and checked when the
inventory was loaded (homelab.inventory_checks), as the schema of its role.

    cfg = settings_for(host, GpuNode)   # a GpuNode, or TypeError if the host is not one
    cfg = settings_for(host)            # whatever role it has (Common)
"""

from __future__ import annotations

import weakref
from typing import Any, TypeVar, cast, overload

import pyinfra.context
from pyinfra.api.host import Host
from pyinfra.context import ctx_host

from homelab.secrets_store import SecretsStore
from homelab.settings import ROLE_SCHEMAS, Common

Kind = TypeVar("Kind", bound=Common)

# Per Host object, not per name: tasks and tests load several inventories in one process.
_cache: weakref.WeakKeyDictionary[Any, Common] = weakref.WeakKeyDictionary()


def real_host(host: Any) -> Host:
    """The Host itself: pyinfra's context proxy `host` resolved to the one it stands for now
    (caches keyed by Host, and pyinfra's state, need the real one)."""
    if host is pyinfra.context.host:
        return ctx_host.get()  # type: ignore[no-untyped-call,no-any-return]  # unannotated in pyinfra
    return cast(Host, host)


def role_of(host: Any) -> str | None:
    """The host's device group (gpu_nodes, le_potato, ...), or None unless it has exactly one."""
    roles = sorted({group for group in host.groups if group in ROLE_SCHEMAS})
    return roles[0] if len(roles) == 1 else None


def role_data(host: Any, role: str) -> dict[str, Any]:
    """The host's merged data for its role's schema. A `--data` override applies to every
    host; one its role has no such setting for (gateway_port on the Le Potato) is left out."""
    data: dict[str, Any] = host.data.dict()
    known = {field.alias or name for name, field in ROLE_SCHEMAS[role].model_fields.items()}
    for key in host.inventory.override_data:
        if key not in known:
            data.pop(key, None)
    return data


def remember(host: Any, cfg: Common) -> None:
    """The settings the inventory check built (so they are validated once)."""
    _cache[host] = cfg


@overload
def settings_for(host: Any) -> Common: ...
@overload
def settings_for(host: Any, kind: type[Kind]) -> Kind: ...
def settings_for(host: Any, kind: type[Common] = Common) -> Common:
    """The typed settings of `host` (pyinfra's `host` during a deploy, or a Host)."""
    host = real_host(host)
    if host not in _cache:
        role = role_of(host)
        if role is None:
            raise LookupError(f"host {host.name!r} is in no device group (see inventory.py)")
        _cache[host] = ROLE_SCHEMAS[role].model_validate(role_data(host, role))
    cfg = _cache[host]
    if not isinstance(cfg, kind):
        raise TypeError(f"host {host.name!r} is a {type(cfg).__name__}, not a {kind.__name__}")
    return cfg


def secrets_store(host: Any) -> SecretsStore:
    """The secrets store of a host being deployed (`secrets_file` in its data). A deploy
    never writes it while planning: secrets it makes wait for the first upload."""
    return SecretsStore(settings_for(host).secrets_file, defer_new=True)
