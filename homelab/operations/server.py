"""The host itself: its name, users, kernel settings, and stopping a host's deploy with a reason."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra import logger
from pyinfra.api.command import FunctionCommand, PyinfraCommand, QuoteString, StringCommand
from pyinfra.api.host import Host
from pyinfra.api.operation import operation
from pyinfra.api.state import State
from pyinfra.context import host


def _stop(state: State, host: Host, reason: str) -> bool:
    host.log_styled(f"stopped: {reason}", fg="red", log_func=logger.error)
    return False


@operation()
def stop_host(reason: str) -> Generator[PyinfraCommand, None, None]:
    """
    Fail this host here, after the operations before it have run (e.g. after writing
    /etc/wsl.conf, which only takes effect once the person restarts WSL). Other hosts
    carry on; pyinfra's summary lists this one as failed.

    + reason: what the person must do, shown in red

    **Example:**

    .. code:: python

        stop_host(name="systemd is not PID 1", reason="run `wsl --shutdown` on Windows, then re-run")
    """
    yield FunctionCommand(_stop, (reason,), {})


@operation()
def sysctl_set(key: str, value: str, known: str | None) -> Generator[PyinfraCommand, None, None]:
    """
    A kernel setting's running value (its file under /etc/sysctl.d keeps it over reboots).

    + key: the setting, like net.ipv4.ip_forward
    + value: what it must be
    + known: its current value (the probe's content of /proc/sys/<key with / for .>)

    **Example:**

    .. code:: python

        sysctl_set(name="Forwarding on", key="net.ipv4.ip_forward", value="1",
                   known=state.contents["/proc/sys/net/ipv4/ip_forward"])
    """
    if known is not None and known.strip() == value:
        host.noop(f"{key} is {value}")
        return
    yield StringCommand("sysctl", "-q", "-w", QuoteString(f"{key}={value}"))


@operation()
def user_present(user: str, home: str, known: bool, shell: str = "/bin/sh",
                 system: bool = True) -> Generator[PyinfraCommand, None, None]:
    """
    A (system) user with a home directory, judged against the probe.

    + user: the name
    + home: its home directory (created)
    + known: whether it exists
    + shell: its login shell (a forced command runs through it)
    + system: a system account

    **Example:**

    .. code:: python

        user_present(name="Game mode's account", user="homelab-gpu", home="/var/lib/homelab-gpu",
                     known=state.users["homelab-gpu"])
    """
    if known:
        host.noop(f"user {user} exists")
        return
    yield StringCommand("useradd", *(["--system"] if system else []), "--create-home", "--home-dir",
                        QuoteString(home), "--shell", QuoteString(shell), QuoteString(user))


@operation()
def hostname_set(hostname: str, known: str) -> Generator[PyinfraCommand, None, None]:
    """
    The running host name (the file /etc/hostname is the caller's ManagedFile).

    + hostname: the wanted name
    + known: the current one, from the probe

    **Example:**

    .. code:: python

        hostname_set(name="Host name", hostname="potato", known=state.profile["hostname"])
    """
    if known == hostname:
        host.noop(f"hostname is {hostname}")
        return
    yield StringCommand("hostname", QuoteString(hostname))
