"""How the stack's pods are confined: the unprivileged user the project's own pods run as,
the security contexts every container gets, scratch space for a read-only root, and
checkov's findings an object accepts (with the reason, where checkov reads it)."""

from __future__ import annotations

from typing import Any

# The project's own pods run as this user (the "nonroot" user of distroless images): no user
# of the node has it, and it is above 10000 (checkov CKV_K8S_40).
POD_UID = 65532


def pod_security(non_root: bool = True) -> dict[str, Any]:
    """A pod's securityContext: the runtime's default seccomp profile, and (unless the image
    needs root: say why where it is used) the unprivileged user."""
    context: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if non_root:
        context.update(runAsNonRoot=True, runAsUser=POD_UID, runAsGroup=POD_UID, fsGroup=POD_UID)
    return context


def container_security(read_only: bool = True, non_root: bool = True, add: tuple[str, ...] = ()) -> dict[str, Any]:
    """A container's securityContext: no privilege escalation, every capability dropped (but
    `add`), a read-only root file system (scratch space comes as an emptyDir)."""
    context: dict[str, Any] = {"allowPrivilegeEscalation": False, "privileged": False,
                               "readOnlyRootFilesystem": read_only,
                               "capabilities": {"drop": ["ALL"], **({"add": list(add)} if add else {})},
                               "seccompProfile": {"type": "RuntimeDefault"}}
    if non_root:
        context.update(runAsNonRoot=True, runAsUser=POD_UID, runAsGroup=POD_UID)
    return context


# checkov's findings this project accepts on its own objects, each with the reason, written
# where checkov reads them (an annotation on the object: checkov.io/skipN: CHECK=reason).
PINNED_BY_TAG = ("CKV_K8S_43", "images are pinned by tag in group data; a digest needs the registry, which the "
                               "project's own machines may not reach (the air-gap install loads archives)")
PULL_IF_NOT_PRESENT = ("CKV_K8S_15", "IfNotPresent on purpose: tags are pinned, and the air-gap install pre-loads "
                                     "images into k3s")


def checkov_skips(*skips: tuple[str, str]) -> dict[str, str]:
    """checkov's skip annotations for the findings `skips` accepts, with their reasons."""
    return {f"checkov.io/skip{index}": f"{check}={reason}" for index, (check, reason) in enumerate(skips, 1)}


def scratch_volume(name: str = "scratch") -> dict[str, Any]:
    """Writable space for a container whose root file system is read-only."""
    return {"name": name, "emptyDir": {"sizeLimit": "1Gi"}}
