"""The one way components keep a systemd service in line with its configuration."""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra.api.operation import OperationMeta
from pyinfra.operations.util import any_changed

from homelab.operations.systemd import unit_restarted, unit_running, units_reloaded


def keep_running(service: str, known: dict[str, str], configs: Sequence[OperationMeta] = (),
                 units: Sequence[OperationMeta] = ()) -> None:
    """Enabled and running (judged against the probe's `known` is-active/is-enabled);
    systemd reloaded when a unit file changed; the service restarted once when its
    configuration or unit changed, and not otherwise."""
    if units:
        units_reloaded(name=f"Reload systemd units for {service}", _if=any_changed(*units))
    unit_running(name=f"{service} enabled and running", unit=service, known=known)
    if configs or units:
        unit_restarted(name=f"Restart {service} after a change", unit=service, _if=any_changed(*configs, *units))
