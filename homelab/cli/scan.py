"""`tasks.py scan`: kubescape and/or trivy against the cluster, if installed here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click

from homelab.cli.common import INVENTORY_OPTION, fail, server
from homelab.k3s import context_name


@click.command()
@INVENTORY_OPTION
def scan(inventory_file: str) -> None:
    """Scan the cluster with kubescape and/or trivy, if installed on this machine."""
    name, cfg = server(inventory_file)
    context = context_name(cfg, name)
    kubeconfig = str(Path(cfg.kubeconfig_path).expanduser())
    scanners = {
        "kubescape": ["kubescape", "scan", "framework", "nsa", "--kubeconfig", kubeconfig, "--kube-context", context],
        "trivy": ["trivy", "k8s", "--kubeconfig", kubeconfig, "--context", context, "--report", "summary"],
    }
    found = {scanner: cmd for scanner, cmd in scanners.items() if shutil.which(scanner)}
    if not found:
        fail("neither kubescape nor trivy is installed on this machine: install one "
             "(macOS: brew install kubescape / brew install trivy), then run this again")
    failed = False
    for scanner, cmd in found.items():
        click.echo(f"--> {scanner} on context {context}", err=True)
        failed |= subprocess.run(cmd).returncode != 0
    sys.exit(1 if failed else 0)
