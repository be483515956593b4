"""Operations of our own, where pyinfra's would be noisy or leak a secret."""

from __future__ import annotations

import hashlib
from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, operation
from pyinfra.api.util import try_int
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import File, Sha256File
from pyinfra.operations import apt
from pyinfra.operations.util.files import chmod, chown

from homelab.secrets import Secret


@operation()
def secret_file(dest: str, content: Secret, user: str = "root", group: str = "root", mode: str = "600"):
    """
    Ship a file that holds a secret. Unlike files.put, it never shows a diff of the
    content (even with --diff) and never puts the content on a command line.

    + dest: remote path
    + content: the whole file, as a Secret (from the secrets store)
    + user, group, mode: ownership and permissions, mode 600 by default

    **Example:**

    .. code:: python

        secret_file(name="k3s token", dest="/etc/rancher/k3s/token", content=store.get("k3s_token"))
    """
    if not isinstance(content, Secret):
        raise OperationError("secret_file takes a Secret, so the value never prints")
    body = content.reveal().encode()
    current = host.get_fact(File, path=dest)
    if current is False:
        raise OperationError(f"{dest} exists and is not a file")
    if not current or host.get_fact(Sha256File, path=dest) != hashlib.sha256(body).hexdigest():
        yield FileUploadCommand(BytesIO(body), dest, remote_temp_filename=host.get_temp_filename(dest))
        yield chown(dest, user, group)
        yield chmod(dest, mode)
        return
    if current["user"] != user or current["group"] != group:
        yield chown(dest, user, group)
    if try_int(current["mode"]) != try_int(mode):
        yield chmod(dest, mode)
    if current["user"] == user and current["group"] == group and try_int(current["mode"]) == try_int(mode):
        host.noop(f"{dest} is up to date")


def pinned(package: str, version: str | None) -> str:
    """`package=version` when group data holds a version, else the package name."""
    return f"{package}={version}" if version else package


@operation()
def apt_installed(packages: list[str]):
    """
    Install Debian packages, refreshing the index only when something is missing, so a
    converged host costs one fact and no `apt-get update` on re-runs.

    + packages: names, optionally pinned as ``name=version``

    **Example:**

    .. code:: python

        apt_installed(name="Node exporter", packages=["prometheus-node-exporter"])
    """
    installed = host.get_fact(DebPackages)
    missing = []
    for spec in packages:
        name, _, version = spec.partition("=")
        if name not in installed or (version and version not in installed[name]):
            missing.append(spec)
    if not missing:
        host.noop(f"{', '.join(packages)} installed")
        return
    yield from apt.update._inner()
    yield from apt.packages._inner(packages=missing)
