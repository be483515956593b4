"""Packages: Debian's apt and Termux's pkg, judged against the host's probe."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra.api.command import PyinfraCommand, QuoteString, StringCommand
from pyinfra.api.operation import operation
from pyinfra.context import host


def pinned(package: str, version: str | None) -> str:
    """`package=version` when group data holds a version, else the package name."""
    return f"{package}={version}" if version else package


@operation()
def apt_installed(packages: list[str], installed: dict[str, str]) -> Generator[PyinfraCommand, None, None]:
    """
    Install Debian packages, refreshing the index only when something is missing, so a
    converged host costs no command and no `apt-get update` on re-runs.

    + packages: names, optionally pinned as ``name=version``
    + installed: name -> version of what is installed (the host's probe)

    **Example:**

    .. code:: python

        apt_installed(name="Node exporter", packages=["prometheus-node-exporter"],
                      installed=host_state.snapshot(host).packages)
    """
    missing = []
    for spec in packages:
        name, _, version = spec.partition("=")
        if name not in installed or (version and version != installed[name]):
            missing.append(spec)
    if not missing:
        host.noop(f"{', '.join(packages)} installed")
        return
    yield StringCommand("apt-get", "update", "-qq")
    yield StringCommand("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq",
                        "-o", 'Dpkg::Options::="--force-confdef"', "-o", 'Dpkg::Options::="--force-confold"',
                        *(QuoteString(spec) for spec in missing))


@operation()
def termux_packages(packages: list[str], installed: set[str]) -> Generator[PyinfraCommand, None, None]:
    """
    Install Termux packages with Termux's own `pkg` (pyinfra's pkg operations are
    BSD's); nothing runs when all are installed.

    + packages: Termux package names
    + installed: what the probe found installed (its `termux_packages`)

    **Example:**

    .. code:: python

        termux_packages(name="CLI tools", packages=["python", "curl", "aichat"], installed=state.termux_packages)
    """
    missing = [package for package in packages if package not in installed]
    if not missing:
        host.noop(f"{', '.join(packages)} installed")
        return
    yield StringCommand("pkg", "install", "-y", *(QuoteString(p) for p in missing))
