"""The one way components keep a systemd service in line with its configuration."""

from __future__ import annotations

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed


def keep_running(service: str, configs: list[OperationMeta] = (), units: list[OperationMeta] = ()) -> None:
    """Enabled and running; systemd reloaded when a unit file changed; the service
    restarted once when its configuration or unit changed, and not otherwise."""
    if units:
        systemd.daemon_reload(name=f"Reload systemd units for {service}", _if=any_changed(*units))
    systemd.service(name=f"{service} enabled and running", service=service, running=True, enabled=True)
    if configs or units:
        systemd.service(name=f"Restart {service} after a change", service=service, restarted=True,
                        _if=any_changed(*configs, *units))
