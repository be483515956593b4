"""systemd units: running, stopped, restarted after a change."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra.api.command import PyinfraCommand, QuoteString, StringCommand
from pyinfra.api.operation import operation


@operation()
def unit_running(unit: str, known: dict[str, str]) -> Generator[PyinfraCommand, None, None]:
    """
    A systemd unit enabled and active, judged against the probe (is-active, is-enabled).

    + unit: the unit's name
    + known: the probe's entry for it

    **Example:**

    .. code:: python

        unit_running(name="k3s enabled and running", unit="k3s", known=state.unit("k3s"))
    """
    if known["enabled"] != "enabled":
        yield StringCommand("systemctl", "enable", QuoteString(unit))
    if known["active"] != "active":
        yield StringCommand("systemctl", "start", QuoteString(unit))


@operation()
def unit_stopped(unit: str, known: dict[str, str]) -> Generator[PyinfraCommand, None, None]:
    """
    A systemd unit disabled and inactive (a component switched off), judged against the probe.

    + unit: the unit's name
    + known: the probe's entry for it

    **Example:**

    .. code:: python

        unit_stopped(name="No tunnel", unit="wg-quick@wg0", known=state.unit("wg-quick@wg0"))
    """
    if known["enabled"] in ("enabled", "enabled-runtime"):
        yield StringCommand("systemctl", "disable", QuoteString(unit))
    if known["active"] in ("active", "activating", "reloading"):
        yield StringCommand("systemctl", "stop", QuoteString(unit))


@operation(is_idempotent=False)
def unit_restarted(unit: str) -> Generator[PyinfraCommand, None, None]:
    """
    Restart a systemd unit; only ever used with `_if` (a change it depends on).

    + unit: the unit's name

    **Example:**

    .. code:: python

        unit_restarted(name="Restart k3s", unit="k3s", _if=any_changed(config, binary))
    """
    yield StringCommand("systemctl", "restart", QuoteString(unit))


@operation(is_idempotent=False)
def units_reloaded() -> Generator[PyinfraCommand, None, None]:
    """
    `systemctl daemon-reload`; only ever used with `_if` (a unit file changed).

    **Example:**

    .. code:: python

        units_reloaded(name="systemd reads the new unit", _if=unit_file.did_change)
    """
    yield StringCommand("systemctl", "daemon-reload")
