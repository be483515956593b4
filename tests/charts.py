"""The pinned chart archives (charts/, the same the render uses) as test oracles: the keys
their values.yaml files define (the chart's own and its dependency charts' under their
names) and the values schema a chart ships."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import yaml

from homelab.stack.helm_render import chart_archive


def _walk(node, prefix, keys, open_paths):
    if isinstance(node, dict):
        if not node and prefix:
            open_paths.add(prefix)
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            keys.add(path)
            _walk(value, path, keys, open_paths)
    elif isinstance(node, list) or node is None:
        if prefix:
            open_paths.add(prefix)


def _read(archive: tarfile.TarFile, name: str) -> bytes | None:
    try:
        member = archive.extractfile(name)
    except KeyError:
        return None
    return member.read() if member else None


def _required(archive: tarfile.TarFile, name: str) -> bytes:
    data = _read(archive, name)
    if data is None:
        raise FileNotFoundError(f"{archive.name!r}: no {name}")
    return data


def values_index(chart: str, version: str) -> tuple[set[str], set[str]]:
    """(every dotted key of the chart's values, paths below which anything goes)."""
    keys: set[str] = set()
    open_paths: set[str] = set()
    path = chart_archive(chart, version)
    with tarfile.open(path) as archive:
        _walk(yaml.safe_load(_required(archive, f"{chart}/values.yaml")), "", keys, open_paths)
        for member in archive.getnames():
            parts = Path(member).parts
            if len(parts) == 3 and parts[1] == "charts" and member.endswith(".tgz"):
                with tarfile.open(fileobj=io.BytesIO(_required(archive, member))) as sub:
                    top = sub.getnames()[0].split("/")[0]
                    meta = yaml.safe_load(_required(sub, f"{top}/Chart.yaml"))
                    _walk({meta["name"]: yaml.safe_load(_required(sub, f"{top}/values.yaml")) or {}}, "", keys,
                          open_paths)
            elif len(parts) == 4 and parts[1] == "charts" and parts[3] == "values.yaml":
                _walk({parts[2]: yaml.safe_load(_required(archive, member)) or {}}, "", keys, open_paths)
    return keys, open_paths


def values_schema(chart: str, version: str) -> dict | None:
    with tarfile.open(chart_archive(chart, version)) as archive:
        data = _read(archive, f"{chart}/values.schema.json")
    return json.loads(data) if data else None


KUBERNETES_TYPED = {"resources", "securityContext", "containerSecurityContext", "podSecurityContext"}


def keys_outside(values: dict, index: tuple[set[str], set[str]]) -> list[str]:
    """Dotted keys of `values` the chart does not define."""
    known, open_paths = index
    unknown = []

    def walk(node, prefix):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else key
            if key in KUBERNETES_TYPED and path in known:  # a Kubernetes object (ResourceRequirements,
                continue                                # SecurityContext): its own schema
            if any(path == p or path.startswith(p + ".") for p in open_paths if p != path) and path not in known:
                continue
            if path not in known:
                unknown.append(path)
                continue
            if isinstance(value, dict) and value and path not in open_paths:
                walk(value, path)

    walk(values, "")
    return unknown
