"""k3s's auto-deploy manifests taken away with their objects."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra.api.command import PyinfraCommand, QuoteString, StringCommand
from pyinfra.api.operation import operation
from pyinfra.context import host


@operation()
def manifest_removed(path: str, present: bool,
                     kubectl: str = "/usr/local/bin/k3s kubectl") -> Generator[PyinfraCommand, None, None]:
    """
    Take a k3s auto-deploy manifest away for good: delete its objects from the cluster
    (k3s keeps them when only the file goes; a deleted HelmChart uninstalls its
    release), then remove the file. Nothing to do when the file is not there.

    + path: the manifest in /var/lib/rancher/k3s/server/manifests
    + present: whether it exists (the host's probe)
    + kubectl: how to call kubectl on the server

    **Example:**

    .. code:: python

        manifest_removed(name="Open WebUI switched off", path=OPEN_WEBUI, present=state.file(OPEN_WEBUI) is not None)
    """
    if not present:
        host.noop(f"{path} is absent")
        return
    yield StringCommand(kubectl, "delete", "--ignore-not-found", "--wait=false", "-f", QuoteString(path))
    yield StringCommand("rm", "-f", QuoteString(path))
