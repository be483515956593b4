"""What the GPU nodes run, read back over SSH: one call per node, nothing written. The
Secrets manifest is never read (the plan has no use for the keys in it)."""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from homelab import k3s, pins
from homelab.doctor import parse_sections, sections_script
from homelab.host_settings import settings_for
from homelab.settings import GpuNode
from homelab.ssh import ssh_command, sudo_prefix
from homelab.stack import manifests

if TYPE_CHECKING:
    from pyinfra.api.host import Host
    from pyinfra.api.inventory import Inventory

TOOLKIT_PACKAGE = "nvidia-container-toolkit"
_K3S_VERSION = re.compile(r"^k3s version (v\S+)")
# Every manifest the plan compares: those built from group data (not the Secrets, not
# files downloaded as they are).
READ_FILES = [c.file for c in manifests.COMPONENTS if c.module is not None]


class UnreachableNode(Exception):
    pass


@dataclass(frozen=True)
class NodeRuns:
    """One GPU node as it is: its k3s and toolkit releases (None: not installed)."""

    name: str
    role: str
    k3s_version: str | None
    toolkit_version: str | None


@dataclass(frozen=True)
class Deployed:
    nodes: list[NodeRuns]  # the server first
    record: dict[str, Any] | None  # the pins the last deploy recorded on the server
    manifests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # file -> objects k3s has

    @property
    def server(self) -> NodeRuns:
        return self.nodes[0]


def read_script(cfg: GpuNode, server: bool) -> str:
    sudo = sudo_prefix(cfg)
    sections = {"k3s": f"{k3s.BINARY} --version 2>/dev/null | head -n 1 || true",
                "toolkit": f"dpkg-query -W -f='${{Version}}' {TOOLKIT_PACKAGE} 2>/dev/null || true"}
    if server:
        sections["record"] = f"cat {shlex.quote(pins.RECORD)} 2>/dev/null || true"
        for name in READ_FILES:
            path = shlex.quote(f"{k3s.MANIFESTS_DIR}/{name}.yaml")
            sections[f"manifest:{name}"] = f"{sudo}cat {path} 2>/dev/null || true"
    return sections_script(sections)


def _installed(text: str) -> str | None:
    value = text.strip()
    return value or None


def parse(name: str, role: str, output: str) -> tuple[NodeRuns, dict[str, Any] | None, dict[str, list[dict[str, Any]]]]:
    sections = parse_sections(output)
    match = _K3S_VERSION.match(sections.get("k3s", "").strip())
    node = NodeRuns(name, role, match.group(1) if match else None, _installed(sections.get("toolkit", "")))
    record = pins.parse_record(sections.get("record", ""))
    found = {}
    for section, text in sections.items():
        if section.startswith("manifest:") and text.strip():
            found[section.removeprefix("manifest:")] = [obj for obj in yaml.safe_load_all(text) if obj]
    return node, record, found


def read_node(node: Host) -> tuple[NodeRuns, dict[str, Any] | None, dict[str, list[dict[str, Any]]]]:
    cfg = settings_for(node, GpuNode)
    role = k3s.role(node)
    proc = subprocess.run(ssh_command(cfg, node.name, read_script(cfg, role == "server")), capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        error = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        raise UnreachableNode(f"{node.name}: could not read what it runs ({error[:160]}); is it awake? "
                              f"(`python tasks.py wake {node.name}`)")
    return parse(node.name, role, proc.stdout)


def read_deployed(inventory: Inventory) -> Deployed:
    nodes, record, found = [], None, {}
    for node in k3s.gpu_nodes(inventory):
        runs, node_record, node_manifests = read_node(node)
        nodes.append(runs)
        if runs.role == "server":
            record, found = node_record, node_manifests
    return Deployed(nodes, record, found)
