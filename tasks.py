#!/usr/bin/env python3
"""Everything around the deploys: the simulated lab, secrets, and day-2 tools.

    python tasks.py --help
    python tasks.py lab up | down | status | reset HOST
    python tasks.py secrets list | set NAME
    python tasks.py plan                       # each GPU node's VRAM, RAM and CPU plan
    python tasks.py images [--artifacts DIR]   # every image the stack pulls; air-gap archives
    python tasks.py keys list | create | rotate | revoke | show DEVICE
    python tasks.py gpu pause | resume | status  # game mode: lend the GPU to a game
    python tasks.py wake [NODE]                # Wake-on-LAN from the Le Potato
    python tasks.py doctor                     # read-only health check of every device
    python tasks.py smoke [--device DEVICE]    # end to end through the gateway
    python tasks.py usage [--by-model]         # what each device used today and this month
    python tasks.py backup | restore ARCHIVE
    python tasks.py bench                      # timings on the lab
    python tasks.py bench gateway              # what the gateway chain adds to a request
    python tasks.py scan                       # kubescape / trivy against the cluster
    python tasks.py upgrade plan | apply       # what a change of pins does; apply it with a way back
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from homelab import k3s
from homelab.lab import Lab, LabError
from homelab.secrets_store import SUPPLIED, BadSecret, MissingSecret, SecretsStore

INVENTORY_OPTION = click.option("--inventory", "inventory_file", default="inventory.py", show_default=True,
                                help="The inventory (its devices, and where its secrets store is).")


def _fail(message: str) -> None:
    click.secho(message, fg="red", err=True)
    sys.exit(1)


class _Tasks(click.Group):
    """Bad inventory data ends any task with the same report as a deploy's; a secret that
    is missing or unusable (a bad HOMELAB_SECRET_* override) with its fix, no traceback."""

    def invoke(self, ctx):
        from homelab.inventory_checks import InvalidInventory

        try:
            return super().invoke(ctx)
        except InvalidInventory as exc:
            _fail(exc.report())
        except (BadSecret, MissingSecret) as exc:
            _fail(str(exc))


@click.group(cls=_Tasks)
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
@INVENTORY_OPTION
def plan(inventory_file):
    """Show each GPU node's plan: the models on its GPU's memory, the pods on the PC's RAM and CPU."""
    from homelab import capacity
    from homelab.host_settings import settings_for
    from homelab.inventory_loading import load_inventory
    from homelab.settings import GpuNode
    from homelab.stack.common import StackContext

    # a plan that does not fit is part of the inventory's report already
    inventory = load_inventory(inventory_file)
    nodes = {host.name: settings_for(host, GpuNode) for host in k3s.gpu_nodes(inventory)}
    ctx = StackContext(nodes=nodes)
    fits = True
    for name, node_plan in capacity.plan(ctx).items():
        vram_plan = ctx.plans[name]
        click.echo(f"{name}: GPU memory\n{vram_plan.table()}\n")
        click.echo(f"{name}: RAM and CPU (WSL2 on the PC)\n{node_plan.table()}\n")
        for verdict in ((vram_plan.fits, vram_plan.advice), (node_plan.fits, node_plan.advice)):
            if not verdict[0]:
                fits = False
                click.secho(verdict[1](), fg="red", err=True)
    if not fits:
        sys.exit(1)


@cli.command()
@INVENTORY_OPTION
@click.option("--artifacts", "artifacts_dir", default=None, type=click.Path(file_okay=False),
              help="An offline k3s artifact directory: check its images/ archives and write images/SHA256SUMS.")
def images(inventory_file, artifacts_dir):
    """Every image the stack pulls, from a render of its HelmCharts with the pinned charts."""
    from homelab import airgap
    from homelab.components.ai_stack import stack_context
    from homelab.inventory_loading import load_inventory
    from homelab.stack import helm_render, manifests

    inventory = load_inventory(inventory_file)
    try:
        server = k3s.server_host(inventory)
        found = helm_render.images(helm_render.render(manifests.wanted(stack_context(server, inventory))))
    except helm_render.RenderError as exc:
        _fail(str(exc))
    if not artifacts_dir:
        click.echo("\n".join(found))
        return
    directory = airgap.images_dir(artifacts_dir)
    directory.mkdir(parents=True, exist_ok=True)
    present, missing = airgap.find_archives(found, directory)
    for image in found:
        click.echo(f"{image:<70} {present[image].name if image in present else 'MISSING'}")
    sums = airgap.write_sums(directory, list(present.values()))
    click.echo(f"{sums}: {len(present)} archives; the GPU node deploy copies them into k3s's agent/images", err=True)
    if missing:
        click.secho("missing archives; on a machine with internet access:\n" +
                    "\n".join(f"  {airgap.save_command(image, directory)}" for image in missing), fg="red", err=True)
        sys.exit(1)


@cli.command()
@INVENTORY_OPTION
def doctor(inventory_file):
    """Check every device, read-only: what is right, what is wrong and how to fix it."""
    from homelab import doctor as doctor_checks
    from homelab import table
    from homelab.inventory_loading import load_inventory

    inventory = load_inventory(inventory_file)
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
@INVENTORY_OPTION
def smoke(device, inventory_file):
    """End to end through the gateway: models, completion, streamed chat, text and image embeddings."""
    from homelab import devices, table
    from homelab import smoke as smoke_test
    from homelab.clients import api_base_url_for, enabled_models, tls_verify

    name, cfg = _server(inventory_file)
    store = SecretsStore(cfg.secrets_file)
    if devices.is_revoked(store, device) or not store.has(devices.token_key(device)):
        _fail(f"{device} has no active token (python tasks.py keys list)")
    base_url = api_base_url_for(cfg)
    click.echo(f"smoke test of {base_url} as {device}", err=True)
    steps = smoke_test.run(base_url, store.get(devices.token_key(device)).reveal(), enabled_models(cfg),
                           verify=tls_verify(cfg, name),
                           log=lambda message: click.echo(f"  {message}", err=True))
    click.echo(table.render(["step", "result", "seconds", "detail"],
                            [[s.name, "ok" if s.ok else "FAIL", f"{s.seconds:.2f}", s.detail] for s in steps]))
    sys.exit(0 if all(s.ok for s in steps) else 1)


@cli.command()
@INVENTORY_OPTION
@click.option("--by-model", is_flag=True, help="One line per device and model.")
def usage(inventory_file, by_model):
    """What each device used today and this month (UTC): requests, prompt and completion
    tokens, from the usage store its quotas are checked against (on the k3s server)."""
    from homelab import table
    from homelab import usage as usage_store
    from homelab.host_settings import settings_for
    from homelab.inventory_loading import load_inventory
    from homelab.settings import GpuNode

    inventory = load_inventory(inventory_file)
    server = k3s.server_host(inventory)
    limits = usage_store.tenant_limits(inventory)
    try:
        store = usage_store.read_store(server.name, settings_for(server, GpuNode))
    except usage_store.UsageUnavailable as error:
        _fail(f"usage: {error}")
    for period, title in (("day", "today (UTC)"), ("month", "this month (UTC)")):
        click.echo(f"{title}:")
        lines = []
        for row in usage_store.rows(store, period, by_model):
            quota = limits.get(row.tenant, {}).get(f"tokens_per_{period}")
            share = "" if by_model else (f"{row.tokens}/{quota} ({100 * row.tokens / quota:.0f}%)" if quota
                                         else "no quota")
            lines.append([row.tenant, *([row.model] if by_model else []), str(row.requests), str(row.prompt),
                          str(row.completion), *([] if by_model else [share])])
        head = ["device", *(["model"] if by_model else []), "requests", "prompt", "completion",
                *([] if by_model else [f"tokens / {period} quota"])]
        click.echo(table.render(head, lines) if lines else "  nothing yet")
        click.echo("")


def _passphrase(confirm: bool) -> str:
    import os

    value = os.environ.get("HOMELAB_BACKUP_PASSPHRASE")
    if value:
        return value
    return click.prompt("passphrase for the secrets store in the archive", hide_input=True,
                        confirmation_prompt=confirm)


def _server(inventory_file):
    from homelab.host_settings import settings_for
    from homelab.inventory_loading import load_inventory

    server = k3s.server_host(load_inventory(inventory_file))
    return server.name, settings_for(server)


@cli.command()
@INVENTORY_OPTION
@click.option("--to", "out_dir", default="backups", show_default=True, help="Directory for the archive.")
def backup(inventory_file, out_dir):
    """Archive k3s's config, datastore and manifests, Grafana, and the encrypted secrets store."""
    from homelab import backup as backups

    name, cfg = _server(inventory_file)
    try:
        archive = backups.take(name, cfg, Path(cfg.secrets_file), Path(out_dir), _passphrase(confirm=True),
                               log=lambda m: click.echo(f"  {m}", err=True))
    except backups.BackupError as exc:
        _fail(f"backup failed: {exc}")
    click.echo(str(archive))


@cli.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@INVENTORY_OPTION
def restore(archive, inventory_file):
    """Put ARCHIVE back: k3s's files and datastore on the server, the secrets store here."""
    from homelab import backup as backups

    name, cfg = _server(inventory_file)
    try:
        manifest = backups.restore(Path(archive), cfg, name, Path(cfg.secrets_file), _passphrase(confirm=False),
                                   log=lambda m: click.echo(f"  {m}", err=True))
    except backups.BackupError as exc:
        _fail(f"restore failed: {exc}")
    click.echo(f"restored the backup of {manifest['created']}; now run the deploys: they should change nothing")


@cli.group(invoke_without_command=True)
@click.option("--fresh/--no-fresh", default=True, show_default=True,
              help="Reset every lab host first, to time a converge from scratch.")
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1, 50),
              help="No-op re-runs to time (the median counts).")
@click.option("--json-out", default="build/bench.json", show_default=True, help="Where to write the results.")
@click.pass_context
def bench(ctx, fresh, rounds, json_out):
    """Time the whole site on the lab: fresh converge, no-op re-run, commands per host, SSH floor.
    `bench gateway`: what the gateway chain adds to a request; `bench wake`: a model on demand's
    wake to first token."""
    import json as json_lib

    if ctx.invoked_subcommand is not None:
        return

    from homelab import bench as benchmark
    from homelab import table
    from homelab.inventory_loading import load_inventory
    from homelab.lab import PROJECT_ROOT

    lab = Lab()
    if not lab.is_up():
        _fail("the lab is down: python tasks.py lab up")
    if fresh:
        for name in list(lab.state()["hosts"]):
            click.echo(f"resetting {name}", err=True)
            lab.reset(name, log=lambda m: None)
    site = PROJECT_ROOT / "deploys" / "site.py"
    click.echo("converging the site", err=True)
    converge = benchmark.timed_run(lab.inventory_file, site, PROJECT_ROOT)
    click.echo(f"re-running it {rounds} times (no-op)", err=True)
    noop = benchmark.timed_runs(lab.inventory_file, site, PROJECT_ROOT, rounds)
    inventory = load_inventory(lab.inventory_file)
    floor = benchmark.ssh_floor(inventory, rounds=5)
    # what pyinfra and the project cost on this machine with no SSH host at all (start-up,
    # inventory checks, the local clients): CPU-bound, so it varies with the machine
    local = benchmark.timed_runs(lab.inventory_file, site, PROJECT_ROOT, rounds, *benchmark.local_only(inventory))
    # the yardstick: a drift check should cost a few SSH round trips, not dozens
    ssh_floor = benchmark.median(list(floor.values()))
    noop["ratio_to_ssh_floor"] = round(noop["seconds"] / ssh_floor, 1)
    noop["local_seconds"] = local["seconds"]
    noop["remote_ratio_to_ssh_floor"] = round(max(noop["seconds"] - local["seconds"], 0) / ssh_floor, 1)
    hosts = sorted(set(converge["commands"]) | set(noop["commands"]))
    rows = [[h, str(converge["commands"].get(h, 0)), str(noop["commands"].get(h, 0)),
             f"{floor[h] * 1000:.0f} ms" if h in floor else "-"] for h in hosts]
    click.echo(table.render(["host", "commands (converge)", "commands (no-op)", "floor: one SSH round trip"], rows))
    click.echo(f"converge: {converge['seconds']} s ({converge['changes']} changes); "
               f"no-op re-run: {noop['seconds']} s ({noop['changes']} changes, median of {rounds}) = "
               f"{noop['ratio_to_ssh_floor']} x the SSH floor; {noop['remote_ratio_to_ssh_floor']} x the SSH floor "
               f"over the same run without SSH hosts ({local['seconds']} s: pyinfra's start-up and the local clients)")
    click.echo("game mode on the lab's stand-in engines", err=True)
    game = benchmark.game_mode(lab, inventory)
    click.echo(f"game mode ({game['engines']} stand-in engines: each answers {game['start_seconds']} s after the one "
               f"before it, stops in {game['stop_seconds']} s; take the real figures on the PC): "
               f"pause -> GPU memory free: {game['pause']['seconds']} s; "
               f"resume -> all engines answer: {game['resume']['seconds']} s")
    result = {"converge": converge, "noop": noop, "ssh_floor_seconds": floor, "fresh": fresh, "game_mode": game}
    Path(json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(json_out).write_text(json_lib.dumps(result, indent=2))
    click.echo(f"results: {json_out}", err=True)
    if converge["exit"] or noop["exit"]:
        _fail("a deploy run failed: see `pyinfra .lab/inventory.py deploys/site.py`")
    if game["pause"]["exit"] or game["resume"]["exit"]:
        _fail(f"game mode failed: {game['pause']['report']} {game['resume']['report']}")


@bench.command("gateway")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--requests", "per_round", default=200, show_default=True, type=click.IntRange(10, 10000))
@click.option("--json-out", default="build/bench-gateway.json", show_default=True, help="Where to write the results.")
def bench_gateway(rounds, per_round, json_out):
    """On the lab: sequential chat requests straight to the stand-in engine, to LiteLLM, through
    the door, through the whole gateway (Caddy, the door, LiteLLM as deployed): p50 and p95, and
    what the chain adds. The GPU node must be deployed (pyinfra .lab/inventory.py deploys/gpu_node.py)."""
    import json as json_lib
    import tempfile

    from homelab import bench as benchmark
    from homelab import table

    lab = Lab()
    if not lab.is_up():
        _fail("the lab is down: python tasks.py lab up")
    with tempfile.TemporaryDirectory() as work:
        try:
            result = benchmark.gateway_overhead(lab, Path(work), rounds, per_round)
        except (RuntimeError, OSError, LabError) as error:
            _fail(f"bench gateway: {error} (is the GPU node deployed? pyinfra .lab/inventory.py deploys/gpu_node.py)")
    click.echo(table.render(["straight to", "p50 ms", "p95 ms"],
                            [[hop, f"{result[hop]['p50']:.2f}", f"{result[hop]['p95']:.2f}"]
                             for hop in ("engine", "litellm", "door", "gateway")]))
    click.echo(f"the gateway chain adds {result['overhead']['p50']:.1f} ms (p50), {result['overhead']['p95']:.1f} ms "
               f"(p95) to a request (median of {rounds} rounds of {per_round}, stand-in engine)")
    Path(json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(json_out).write_text(json_lib.dumps(result, indent=2))


@bench.command("wake")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--json-out", default="build/bench-wake.json", show_default=True, help="Where to write the results.")
def bench_wake(rounds, json_out):
    """On the lab: a streamed request for an unloaded model on demand, through the deployed
    gateway, to its first token (stand-in engines that answer 2 s after they start). On the
    PC the figure is vLLM's cold start: time one request to an unloaded model there."""
    import json as json_lib
    import tempfile

    from homelab import bench as benchmark

    lab = Lab()
    if not lab.is_up():
        _fail("the lab is down: python tasks.py lab up")
    with tempfile.TemporaryDirectory() as work:
        try:
            result = benchmark.wake_to_first_token(lab, Path(work), rounds)
        except (RuntimeError, OSError, LabError) as error:
            _fail(f"bench wake: {error} (is the GPU node deployed? pyinfra .lab/inventory.py deploys/gpu_node.py)")
    click.echo(f"wake to first token for {result['model']}: {result['median']:.2f} s (median of {rounds}; stand-in "
               f"engines answer {result['start_seconds']} s after they start)")
    Path(json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(json_out).write_text(json_lib.dumps(result, indent=2))


@cli.command()
@INVENTORY_OPTION
def scan(inventory_file):
    """Scan the cluster with kubescape and/or trivy, if installed on this machine."""
    import shutil
    import subprocess

    from homelab.k3s import context_name

    name, cfg = _server(inventory_file)
    context = context_name(cfg, name)
    kubeconfig = str(Path(cfg.kubeconfig_path).expanduser())
    scanners = {
        "kubescape": ["kubescape", "scan", "framework", "nsa", "--kubeconfig", kubeconfig, "--kube-context", context],
        "trivy": ["trivy", "k8s", "--kubeconfig", kubeconfig, "--context", context, "--report", "summary"],
    }
    found = {name: cmd for name, cmd in scanners.items() if shutil.which(name)}
    if not found:
        _fail("neither kubescape nor trivy is installed on this machine: install one "
              "(macOS: brew install kubescape / brew install trivy), then run this again")
    failed = False
    for name, cmd in found.items():
        click.echo(f"--> {name} on context {context}", err=True)
        failed |= subprocess.run(cmd).returncode != 0
    sys.exit(1 if failed else 0)


@cli.group()
def gpu():
    """Game mode: lend the GPU to a game and take it back (on the k3s server, over SSH)."""


def _gpu(verb: str, inventory_file: str, node: str | None, *extra: str) -> None:
    import shlex
    import subprocess

    from homelab import gpu_mode
    from homelab.ssh import ssh_command, sudo_prefix

    name, cfg = _server(inventory_file)
    args = [gpu_mode.TOOL, verb, "--by", "macbook", *(["--node", node] if node else []), *extra]
    remote = f"{sudo_prefix(cfg)}{shlex.join(args)}"
    code = subprocess.run(ssh_command(cfg, name, remote)).returncode
    if code == 255:  # ssh itself: the PC does not answer
        _fail(f"{name}: asleep (or off): the PC does not answer. Wake it with `python tasks.py wake {name}`")
    sys.exit(code)


GPU_NODE_OPTION = click.option("--node", default=None, help="The GPU node whose engines (default: the k3s server's).")


@gpu.command("pause")
@GPU_NODE_OPTION
@INVENTORY_OPTION
def gpu_pause(node, inventory_file):
    """Scale the node's engines to zero: the GPU (and WSL's memory) is free for a game;
    the gateway answers 503 meanwhile."""
    _gpu("pause", inventory_file, node)


@gpu.command("resume")
@GPU_NODE_OPTION
@INVENTORY_OPTION
def gpu_resume(node, inventory_file):
    """Bring the engines back in their start order; says when each answers again."""
    _gpu("resume", inventory_file, node)


@gpu.command("status")
@GPU_NODE_OPTION
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@INVENTORY_OPTION
def gpu_status(node, as_json, inventory_file):
    """Serving, paused or resuming, since when and by whom; the engines; GPU memory in use."""
    _gpu("status", inventory_file, node, *(["--json"] if as_json else []))


@cli.command()
@click.argument("node", required=False)
@INVENTORY_OPTION
def wake(node, inventory_file):
    """Wake a GPU node's PC (default: the k3s server) with Wake-on-LAN, sent by the Le Potato."""
    import shlex
    import subprocess

    from homelab import wake as wol
    from homelab.host_settings import settings_for
    from homelab.inventory_loading import load_inventory
    from homelab.ssh import ssh_command

    inventory = load_inventory(inventory_file)
    node = node or k3s.server_host(inventory).name
    if node not in [h.name for h in k3s.gpu_nodes(inventory)] or not settings_for(inventory.get_host(node)).wol_mac:
        _fail(f"{node} is not a GPU node with a wol_mac (set it in its entry in inventory.py)")
    potatoes = inventory.get_group("le_potato", [])
    if not potatoes:
        _fail("no Le Potato in the inventory to send the packet from")
    board = potatoes[0]
    sys.exit(subprocess.run(ssh_command(settings_for(board), board.name, shlex.join([wol.TOOL, node]))).returncode)


@cli.group()
def keys():
    """API tokens of the devices (one per device, checked by the gateway)."""


def _inventory_and_store(inventory_file):
    """The inventory, with its tokens unchecked (these commands are how a bad one is
    replaced), and the secrets store its group data names."""
    from homelab.host_settings import settings_for
    from homelab.inventory_checks import secrets_unchecked
    from homelab.inventory_loading import load_inventory

    with secrets_unchecked():
        inventory = load_inventory(inventory_file)
    return inventory, SecretsStore(settings_for(next(iter(inventory))).secrets_file)


def _devices_and_store(inventory_file):
    from homelab import devices

    inventory, store = _inventory_and_store(inventory_file)
    return devices, devices.api_devices(inventory), store


def _device(inventory_file, device):
    """The devices module and the secrets store, once DEVICE is known to use the API."""
    devices, names, store = _devices_and_store(inventory_file)
    if device not in names:
        _fail(f"{device!r} is not a device that uses the API; devices: {', '.join(names)}")
    return devices, store



@keys.command("list")
@INVENTORY_OPTION
def keys_list(inventory_file):
    """List every API device and the state of its token (fingerprints, never tokens)."""
    devices, names, store = _devices_and_store(inventory_file)
    for name in names:
        if devices.is_revoked(store, name):
            state = f"revoked since {store.get(devices.revoked_key(name)).reveal()}"
        elif store.has(devices.token_key(name)):
            try:
                state = f"active, fingerprint {devices.fingerprint(store.get(devices.token_key(name)).reveal())}"
            except BadSecret as exc:
                state = f"UNUSABLE: {exc}"
        else:
            state = "no token yet (made by the next deploy)"
        click.echo(f"{name:<16} {state}")


def _device_command(name: str):
    """A `keys` command about one DEVICE: it gets the devices module and the secrets store,
    once DEVICE is known to use the API."""
    def register(function):
        @keys.command(name, help=function.__doc__)
        @click.argument("device")
        @INVENTORY_OPTION
        def command(device, inventory_file):
            devices, store = _device(inventory_file, device)
            function(device, devices, store)
        return command
    return register


@_device_command("create")
def keys_create(device, devices, store):
    """Give DEVICE a token (also lifts a revocation). Active after the next deploy."""
    if store.has(devices.token_key(device)) and not devices.is_revoked(store, device):
        _fail(f"{device} already has a token; to replace it: python tasks.py keys rotate {device}")
    devices.rotate(store, device)
    click.echo(f"{device}: token created; deploy the GPU node to activate it (show it: keys show {device})")


@_device_command("rotate")
def keys_rotate(device, devices, store):
    """Replace DEVICE's token; the old one stops working after the next deploy."""
    devices.rotate(store, device)
    click.echo(f"{device}: new token and tunnel key; deploy the GPU node (the old token then stops working), the "
               "Le Potato (the old tunnel key too) and the clients")


@_device_command("revoke")
def keys_revoke(device, devices, store):
    """Take DEVICE's token away; it stops working after the next deploy."""
    devices.revoke(store, device)
    click.echo(f"{device}: revoked; deploy the GPU node and the Le Potato (its tunnel peer) to make it take effect")


@_device_command("show")
def keys_show(device, devices, store):
    """Print DEVICE's token (to set up a client by hand)."""
    if devices.is_revoked(store, device):
        _fail(f"{device} is revoked")
    if not store.has(devices.token_key(device)):
        _fail(f"{device} has no token yet: python tasks.py keys create {device} (or deploy its client)")
    click.echo(store.get(devices.token_key(device)).reveal())  # a bad one: _Tasks ends with its fix


@cli.group()
def upgrade():
    """Change pins without fear: see what a deploy of group data's pins would change, then
    apply it with a backup first, checks after, and the recorded pins as the way back."""


def _upgrade_plan(inventory_file):
    from homelab.inventory_loading import load_inventory
    from homelab.stack.helm_render import RenderError
    from homelab.upgrade.deployed import UnreachableNode, read_deployed
    from homelab.upgrade.plan import make_plan

    inventory = load_inventory(inventory_file)
    try:
        return inventory, make_plan(inventory, read_deployed(inventory))
    except (UnreachableNode, RenderError) as exc:
        _fail(f"upgrade: {exc}")


@upgrade.command("plan")
@INVENTORY_OPTION
@click.option("--json", "as_json", is_flag=True, help="The whole plan as JSON (every changed field).")
def upgrade_plan(inventory_file, as_json):
    """What a GPU node deploy would change: pins, objects and fields, images, CRDs, restarts,
    the engines' downtime, and what is risky or refused. Reads the hosts, writes nothing.
    Exit 0: nothing refused (it may change things); 1: refused."""
    import json

    from homelab.upgrade.plan import format_plan

    _, plan = _upgrade_plan(inventory_file)
    click.echo(json.dumps(plan.as_dict(), indent=2, default=str) if as_json else format_plan(plan))
    sys.exit(1 if plan.refusals else 0)


@upgrade.command("apply")
@INVENTORY_OPTION
@click.option("--accept-risk", is_flag=True, help="Apply changes the plan calls risky (never refused ones).")
@click.option("--dry", is_flag=True, help="Show the plan and the steps; write nothing, anywhere.")
@click.option("--device", default="macbook", show_default=True, help="Whose token the smoke test calls with.")
@click.option("--backup-to", "backup_dir", default="backups", show_default=True, help="Directory for the backup.")
@click.option("--settle-seconds", default=900, show_default=True, type=click.IntRange(10, 7200),
              help="How long to wait for the Helm releases and pods after the deploy.")
def upgrade_apply(inventory_file, accept_risk, dry, device, backup_dir, settle_seconds):
    """Back up, deploy the pins (k3s server before agents), wait for the releases, smoke
    test; on a failure deploy the pins recorded before again. Exit 0 only when upgraded."""
    from homelab.upgrade.apply import Options, apply
    from homelab.upgrade.plan import format_plan

    inventory, plan = _upgrade_plan(inventory_file)
    click.echo(format_plan(plan))
    if plan.refusals:
        _fail("upgrade refused: fix what the plan lists under REFUSED")
    if plan.risks and not accept_risk:
        _fail("upgrade refused: the plan lists RISKY changes; read them, then re-run with --accept-risk")
    if not plan.changes_anything:
        return
    options = Options(Path(inventory_file).resolve(), device, Path(backup_dir), lambda: _passphrase(confirm=True),
                      settle_seconds, log=lambda message: click.echo(message, err=True))
    sys.exit(0 if apply(inventory, plan, options, dry=dry) else 1)


@cli.group()
def secrets():
    """The local secrets store (never in git, mode 0600)."""


FILE_OPTION = click.option("--file", "path", default=None,
                           help="A secrets store other than the inventory's (secrets_file in group_data/all.py).")


def _store(inventory_file, path) -> SecretsStore:
    return SecretsStore(path) if path else _inventory_and_store(inventory_file)[1]


@secrets.command("list")
@INVENTORY_OPTION
@FILE_OPTION
def secrets_list(inventory_file, path):
    """List the names of stored secrets (never their values)."""
    for name in _store(inventory_file, path).names():
        click.echo(name)


@secrets.command("show")
@click.argument("name")
@INVENTORY_OPTION
@FILE_OPTION
def secrets_show(name, inventory_file, path):
    """Print secret NAME (e.g. open_webui_admin_password, to log in to Open WebUI)."""
    store = _store(inventory_file, path)
    if name not in store.names():
        _fail(f"no secret {name!r} in {store.path} (it is made by the first deploy that needs it)")
    click.echo(store.get(name).reveal())


@secrets.command("set")
@click.argument("name")
@INVENTORY_OPTION
@FILE_OPTION
def secrets_set(name, inventory_file, path):
    """Store secret NAME, read from a hidden prompt (or stdin when piped)."""
    hint = SUPPLIED.get(name, "the value")
    value = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass(f"{name} ({hint}): ")
    if not value:
        _fail(f"no value given for {name}")
    store = _store(inventory_file, path)
    try:
        store.set(name, value)
    except ValueError as exc:  # a bad name, or a token the gateway could not take
        _fail(str(exc))
    click.echo(f"stored {name} in {store.path}")


if __name__ == "__main__":
    cli()
