#!/usr/bin/env python3
"""Everything around the deploys: the simulated lab, secrets, and day-2 tools.

    python tasks.py --help
    python tasks.py lab up | down | status | reset HOST
    python tasks.py secrets list | set NAME
    python tasks.py plan                       # the VRAM plan of the model catalogue
    python tasks.py keys list | create | rotate | revoke | show DEVICE
    python tasks.py doctor                     # read-only health check of every device
    python tasks.py smoke [--device DEVICE]    # end to end through the gateway
"""

from __future__ import annotations

import getpass
import sys

import click

from homelab.lab import Lab, LabError
from homelab.secrets import SUPPLIED, SecretsStore

DEFAULT_SECRETS = ".secrets/secrets.yaml"


def _fail(message: str) -> None:
    click.secho(message, fg="red", err=True)
    sys.exit(1)


@click.group()
def cli():
    """Tasks for the home-lab AI hosting project (run from the project directory)."""


@cli.group()
def lab():
    """The simulated lab: containers standing in for the GPU node, the Le Potato and a phone."""


@lab.command("up")
def lab_up():
    """Bring the lab up (idempotent) and write .lab/inventory.py."""
    try:
        Lab().up(log=click.echo)
    except LabError as exc:
        _fail(f"lab up failed: {exc}")


@lab.command("down")
def lab_down():
    """Stop every lab container and remove the namespaces and processes the lab made."""
    Lab().down(log=click.echo)


@lab.command("status")
def lab_status():
    """Show each lab host: address, whether it runs, whether SSH answers."""
    rows = Lab().status()
    if not rows:
        click.echo("lab is down (python tasks.py lab up)")
        return
    for row in rows:
        state = "running" if row["running"] else "STOPPED"
        ssh = "ssh ok" if row["ssh"] else "ssh DOWN"
        click.echo(f"{row['host']:<12} {row['group']:<14} {row['address']}:{row['ssh_port']:<6} {state:<8} {ssh}")
    if not all(r["running"] and r["ssh"] for r in rows):
        sys.exit(1)


@lab.command("reset")
@click.argument("host")
def lab_reset(host):
    """Throw away HOST's changes and boot it fresh."""
    try:
        Lab().reset(host, log=click.echo)
    except LabError as exc:
        _fail(str(exc))


@cli.command()
@click.option("--inventory", "inventory_file", default="inventory.py", show_default=True, help="The inventory.")
def plan(inventory_file):
    """Show how the model catalogue is planned onto each GPU node's memory."""
    from homelab import vram
    from homelab.settings import GpuNode
    from homelab.validation import InvalidInventory, load_inventory, settings_for

    try:
        inventory = load_inventory(inventory_file)
        nodes = [(host.name, settings_for(host)) for host in inventory.get_group("gpu_nodes", [])]
    except InvalidInventory as exc:  # the planner's own verdict is part of the report
        _fail(exc.report())
    fits = True
    for name, cfg in nodes:
        assert isinstance(cfg, GpuNode)
        result = vram.plan(cfg.models, cfg.gpu_vram_gib, cfg.gpu_vram_headroom_gib)
        click.echo(f"{name}:\n{result.table()}\n")
        if not result.fits:
            fits = False
            click.secho(result.advice(), fg="red", err=True)
    if not fits:
        sys.exit(1)


@cli.command()
@click.option("--inventory", "inventory_file", default="inventory.py", show_default=True, help="The inventory.")
def doctor(inventory_file):
    """Check every device, read-only: what is right, what is wrong and how to fix it."""
    from homelab import doctor as doctor_checks
    from homelab import table
    from homelab.validation import InvalidInventory, load_inventory

    try:
        inventory = load_inventory(inventory_file)
    except InvalidInventory as exc:
        _fail(exc.report())
    checks = []
    with click.progressbar(list(inventory), label="checking devices", file=sys.stderr,
                           item_show_func=lambda h: h.name if h else "") as hosts:
        for host in hosts:
            checks += doctor_checks.host_checks(host)
    click.echo(table.render(["device", "check", "state", "detail"],
                            [[c.device, c.check, "ok" if c.ok else "FAIL", c.detail] for c in checks]))
    failed = [c for c in checks if not c.ok]
    for check in failed:
        click.secho(f"{check.device}: {check.check}: {check.fix}", fg="red")
    sys.exit(1 if failed else 0)


@cli.command()
@click.option("--device", default="macbook", show_default=True, help="Whose token to call with.")
@click.option("--inventory", "inventory_file", default="inventory.py", show_default=True, help="The inventory.")
def smoke(device, inventory_file):
    """End to end through the gateway: models, completion, streamed chat, text and image embeddings."""
    from pathlib import Path

    from homelab import devices, smoke as smoke_test, table
    from homelab.clients import api_base_url_for, enabled_models
    from homelab.validation import load_inventory, settings_for

    inventory = load_inventory(inventory_file)
    server = inventory.get_group("gpu_nodes")[0]
    cfg = settings_for(server)
    store = SecretsStore(cfg.secrets_file)
    if devices.is_revoked(store, device) or not store.has(devices.token_key(device)):
        _fail(f"{device} has no active token (python tasks.py keys list)")
    root_ca = Path(cfg.client_files_dir) / server.name / "gateway-root-ca.crt"
    base_url = api_base_url_for(cfg)
    click.echo(f"smoke test of {base_url} as {device}", err=True)
    steps = smoke_test.run(base_url, store.get(devices.token_key(device)).reveal(), enabled_models(cfg),
                           verify=str(root_ca) if root_ca.is_file() else True)
    click.echo(table.render(["step", "result", "seconds", "detail"],
                            [[s.name, "ok" if s.ok else "FAIL", f"{s.seconds:.2f}", s.detail] for s in steps]))
    sys.exit(0 if all(s.ok for s in steps) else 1)


@cli.group()
def keys():
    """API tokens of the devices (one per device, checked by the gateway)."""


def _devices_and_store(inventory_file):
    from homelab import devices
    from homelab.validation import load_inventory, settings_for

    inventory = load_inventory(inventory_file)
    first = next(iter(inventory))
    return devices, devices.api_devices(inventory), SecretsStore(settings_for(first).secrets_file)


def _known_device(device, names):
    if device not in names:
        _fail(f"{device!r} is not a device that uses the API; devices: {', '.join(names)}")


INVENTORY_OPTION = click.option("--inventory", "inventory_file", default="inventory.py", show_default=True,
                                help="The inventory whose devices and secrets store to use.")


@keys.command("list")
@INVENTORY_OPTION
def keys_list(inventory_file):
    """List every API device and the state of its token (fingerprints, never tokens)."""
    devices, names, store = _devices_and_store(inventory_file)
    for name in names:
        if devices.is_revoked(store, name):
            state = f"revoked since {store.get(devices.revoked_key(name)).reveal()}"
        elif store.has(devices.token_key(name)):
            state = f"active, fingerprint {devices.fingerprint(store.get(devices.token_key(name)).reveal())}"
        else:
            state = "no token yet (made by the next deploy)"
        click.echo(f"{name:<16} {state}")


@keys.command("create")
@click.argument("device")
@INVENTORY_OPTION
def keys_create(device, inventory_file):
    """Give DEVICE a token (also lifts a revocation). Active after the next deploy."""
    devices, names, store = _devices_and_store(inventory_file)
    _known_device(device, names)
    if store.has(devices.token_key(device)) and not devices.is_revoked(store, device):
        _fail(f"{device} already has a token; to replace it: python tasks.py keys rotate {device}")
    devices.rotate(store, device)
    click.echo(f"{device}: token created; deploy the GPU node to activate it (show it: keys show {device})")


@keys.command("rotate")
@click.argument("device")
@INVENTORY_OPTION
def keys_rotate(device, inventory_file):
    """Replace DEVICE's token; the old one stops working after the next deploy."""
    devices, names, store = _devices_and_store(inventory_file)
    _known_device(device, names)
    devices.rotate(store, device)
    click.echo(f"{device}: new token; deploy the GPU node (the old token then stops working) and the clients")


@keys.command("revoke")
@click.argument("device")
@INVENTORY_OPTION
def keys_revoke(device, inventory_file):
    """Take DEVICE's token away; it stops working after the next deploy."""
    devices, names, store = _devices_and_store(inventory_file)
    _known_device(device, names)
    devices.revoke(store, device)
    click.echo(f"{device}: revoked; deploy the GPU node to make it take effect")


@keys.command("show")
@click.argument("device")
@INVENTORY_OPTION
def keys_show(device, inventory_file):
    """Print DEVICE's token (to set up a client by hand)."""
    devices, names, store = _devices_and_store(inventory_file)
    _known_device(device, names)
    if devices.is_revoked(store, device):
        _fail(f"{device} is revoked")
    click.echo(store.get(devices.token_key(device)).reveal())


@cli.group()
def secrets():
    """The local secrets store (never in git, mode 0600)."""


@secrets.command("list")
@click.option("--file", "path", default=DEFAULT_SECRETS, show_default=True, help="The secrets store.")
def secrets_list(path):
    """List the names of stored secrets (never their values)."""
    for name in SecretsStore(path).names():
        click.echo(name)


@secrets.command("set")
@click.argument("name")
@click.option("--file", "path", default=DEFAULT_SECRETS, show_default=True, help="The secrets store.")
def secrets_set(name, path):
    """Store secret NAME, read from a hidden prompt (or stdin when piped)."""
    hint = SUPPLIED.get(name, "the value")
    value = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass(f"{name} ({hint}): ")
    if not value:
        _fail(f"no value given for {name}")
    SecretsStore(path).set(name, value)
    click.echo(f"stored {name} in {path}")


if __name__ == "__main__":
    cli()
