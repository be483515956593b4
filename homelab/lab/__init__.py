"""The simulated home lab: one systemd-booted Debian container per SSH-managed device of
inventory.py, each in its own network namespace, reachable over real SSH.

    lab = Lab()
    lab.up()        # idempotent; reuses the cached rootfs and running hosts
    lab.ssh("potato", "systemctl is-active prometheus-node-exporter")
    lab.down()      # removes every container, namespace and process it recorded

`up` writes .lab/inventory.py: the same groups and host names as inventory.py, with lab
addresses, the lab's SSH key and a pinned known_hosts file, so that
`pyinfra .lab/inventory.py deploys/<x>.py` runs any deploy against the lab unchanged.
"""

from __future__ import annotations

import functools
import json
import os
import pprint
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homelab import devices, k3s
from homelab.inventory_loading import load_inventory
from homelab.lab import apt_proxy, machine, network, rootfs, stand_ins
from homelab.lab.machine import MachineSpec
from homelab.lab.system import LabError, is_recorded_process_alive, run, stop_recorded_process, why_lab_cannot_run
from homelab.settings import LIMITS

if TYPE_CHECKING:
    from pyinfra.api.inventory import Inventory

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Inventory groups whose devices the lab simulates, and as what.
SIMULATED_GROUPS = {"gpu_nodes": "debian", "le_potato": "debian", "termux_phones": "termux"}
# The lab's gateway allowlist: every lab host, not the outsider (10.77.0.250).
ALLOWLIST = "10.77.0.0/25"

__all__ = ["Lab", "LabError", "why_lab_cannot_run"]

# Which checkout's lab runs on this machine (its state directory).
OWNER_FILE = machine.HOSTS_DIR.parent / "owner"


class Lab:
    def __init__(self, state_dir: Path | None = None, source_inventory: Path | None = None):
        self.state_dir = Path(state_dir or PROJECT_ROOT / ".lab")
        self.source_inventory = Path(source_inventory or PROJECT_ROOT / "inventory.py")
        self.state_file = self.state_dir / "state.json"
        self.ssh_key = self.state_dir / "ssh" / "id_ed25519"
        self.known_hosts = self.state_dir / "ssh" / "known_hosts"
        self.inventory_file = self.state_dir / "inventory.py"
        self.secrets_file = self.state_dir / "secrets.yaml"

    # -- state ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        if self.state_file.exists():
            state: dict[str, Any] = json.loads(self.state_file.read_text())
            return state
        return {"hosts": {}}

    def _save(self, state: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2, sort_keys=True))

    def spec(self, name: str) -> MachineSpec:
        hosts = self.state()["hosts"]
        if name not in hosts:
            raise LabError(f"no lab host named {name!r}; lab hosts: {sorted(hosts)}")
        return MachineSpec(**hosts[name]["spec"])

    def is_up(self) -> bool:
        state = self.state()
        return bool(state["hosts"]) and all(is_recorded_process_alive(h.get("process"))
                                            for h in state["hosts"].values())

    # -- up ------------------------------------------------------------------------------

    def _specs_from_inventory(self) -> tuple[Inventory, list[MachineSpec]]:
        inventory = load_inventory(self.source_inventory, cwd=PROJECT_ROOT)
        specs, index = [], 0
        for group, kind in SIMULATED_GROUPS.items():
            for host in inventory.get_group(group, []):
                name = host.name
                specs.append(MachineSpec(
                    name=name, group=group, kind=kind, address=network.host_address(index),
                    ssh_port=host.data.get("ssh_port") or 22, ssh_user=host.data.get("ssh_user") or "root",
                    netns=f"hlab-{name}"[:15], veth=f"hlv{index}", gpu_stand_in=group == "gpu_nodes",
                    tun=group == "le_potato",
                ))
                index += 1
        return inventory, specs

    def _ensure_client_key(self) -> str:
        self.ssh_key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.ssh_key.exists():
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "homelab-lab", "-f", self.ssh_key)
        return self.ssh_key.with_suffix(".pub").read_text()

    def _host_key(self, name: str) -> Path:
        key = self.state_dir / "ssh" / "host_keys" / name
        key.parent.mkdir(parents=True, exist_ok=True)
        if not key.exists():
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lab-{name}", "-f", key)
        return key

    def ssh_base(self) -> list[str]:
        return ["ssh", "-i", str(self.ssh_key), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                "-o", "LogLevel=ERROR"]

    def up(self, log: Callable[[str], object] = print) -> dict[str, Any]:
        reason = why_lab_cannot_run()
        if reason:
            raise LabError(reason)
        inventory, specs = self._specs_from_inventory()
        self._claim()
        state = self.state()
        pubkey = self._ensure_client_key()
        base = rootfs.ensure_rootfs(log)
        network.ensure_bridge()
        network.ensure_namespace(f"hlab-{network.OUTSIDER_NAME}", "hlvout", network.OUTSIDER_ADDRESS)
        if not is_recorded_process_alive(state.get("apt_proxy")):
            state["apt_proxy"] = apt_proxy.start(self.state_dir)
            log(f"apt proxy for the lab at {apt_proxy.url()}")
        gpu_nodes = k3s.gpu_nodes(inventory)
        if gpu_nodes:
            pins = gpu_nodes[0].data  # the server's pins: the mirror serves what it downloads
            state["gpu_overrides"] = stand_ins.build_mirror(self.state_dir / "mirror", pins.nvidia_toolkit_version,
                                                            pins.k3s_version)
            if not is_recorded_process_alive(state.get("mirror")):
                state["mirror"] = stand_ins.serve_mirror(self.state_dir / "mirror",
                                                         self.state_dir / "logs" / "mirror.log")
                log(f"stand-in mirror for NVIDIA's and k3s's downloads at {stand_ins.mirror_url()}")
        self._write_known_hosts(specs)
        self._save(state)
        for spec in specs:
            record = state["hosts"].get(spec.name)
            if record and record["spec"] == spec.to_dict() and is_recorded_process_alive(record.get("process")):
                continue
            if record:  # recorded but dead or changed: start it again from scratch
                self._stop_host(record)
            log(f"starting lab host {spec.name} ({spec.group}) at {spec.address}:{spec.ssh_port}")
            network.ensure_namespace(spec.netns, spec.veth, spec.address)
            if spec.tun:
                # nspawn keeps /proc/sys read-only inside: the lab sets what the board's
                # deploy sets with sysctl (and then finds set)
                run("ip", "netns", "exec", spec.netns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            machine.mount_overlay(spec, base)
            machine.provision(spec, pubkey, self._host_key(spec.name))
            state["hosts"][spec.name] = {"spec": spec.to_dict(),
                                         "process": machine.boot(spec, self.state_dir / "logs" / f"{spec.name}.log")}
            self._save(state)
        for spec in specs:
            machine.wait_until_ssh_answers(spec, self.ssh_base())
        self._write_inventory(inventory, specs, state.get("gpu_overrides", {}))
        log(f"lab is up: {len(specs)} hosts; inventory {self.inventory_file}")
        return state

    def _write_known_hosts(self, specs: list[MachineSpec]) -> None:
        """Pin every lab host's key: pyinfra and ssh verify against this file, never trust on first use."""
        lines = []
        for spec in specs:
            address = spec.address if spec.ssh_port == 22 else f"[{spec.address}]:{spec.ssh_port}"
            key_type, key_body = self._host_key(spec.name).with_suffix(".pub").read_text().split()[:2]
            lines.append(f"{address} {key_type} {key_body}")
        self.known_hosts.write_text("\n".join(lines) + "\n")

    def _write_inventory(self, inventory: Inventory, specs: list[MachineSpec], gpu_overrides: dict[str, Any]) -> None:
        by_name = {spec.name: spec for spec in specs}
        ssh_data = {
            "ssh_key": str(self.ssh_key),
            "ssh_known_hosts_file": str(self.known_hosts),
            "ssh_strict_host_key_checking": "yes",
        }
        lines = [
            '"""The simulated lab\'s inventory, written by `python tasks.py lab up`: do not edit.',
            "",
            "Same groups and host names as inventory.py; lab addresses, the lab's SSH key and pinned",
            'host keys. Run any deploy against the lab: pyinfra .lab/inventory.py deploys/<x>.py"""',
            "",
            "from homelab.inventory_loading import check_inventory_file",
            "",
        ]
        groups = [g for g in inventory.groups if g not in ("all", "inventory", "@render", "@local")]
        for group in groups:
            entries = []
            for host in inventory.get_group(group):
                data = dict(inventory.get_host_data(host.name), secrets_file=str(self.secrets_file),
                            client_files_dir=str(self.state_dir / "build"),
                            kubeconfig_path=str(self.state_dir / "build" / "kubeconfig"))
                if group in devices.API_CLIENT_GROUPS:
                    # the tests send hundreds of requests a minute through the gateway; the ones
                    # about limits set their own (tests/components/test_tenants.py)
                    data.update({f"api_{limit}": None for limit in LIMITS})
                if group == "gpu_nodes":
                    data.update({f"open_webui_{limit}": None for limit in LIMITS})
                spec = by_name.get(host.name)
                if spec:
                    data.update(ssh_data, ssh_hostname=spec.address, lan_address=spec.address,
                                ssh_port=spec.ssh_port, ssh_user=spec.ssh_user)
                    if spec.kind == "debian":
                        data.update(apt_proxy_url=apt_proxy.url())
                    if group == "le_potato":  # the lab's hosts reach mirrors only through the lab's proxy
                        data.update(apt_cache_upstream_proxy=apt_proxy.url())
                    if group == "gpu_nodes":  # WSL2 and GPU stand-ins, downloads from the stand-in mirror
                        data.update(wsl=True, gateway_allowlist=[ALLOWLIST], **gpu_overrides)
                    name = host.name
                elif group == "macbook":  # this machine, with its own home for the client files
                    data.update(lan_address=network.HOST_SIDE,
                                client_home=str(self.state_dir / "build" / "macbook-home"))
                    name = "@local"
                else:
                    data.pop("lan_address", None)
                    name = f"@render/{host.name}"
                entries.append((name, data))
            lines.append(f"{group} = {pprint.pformat(entries, width=100, sort_dicts=True)}\n")
        lines.append("check_inventory_file(__file__)")
        self.inventory_file.write_text("\n".join(lines) + "\n")

    # -- down / reset ----------------------------------------------------------------------

    def _stop_host(self, record: dict[str, Any]) -> None:
        spec = MachineSpec(**record["spec"])
        machine.shutdown(record.get("process"))
        machine.unmount_and_wipe(spec)
        network.remove_namespace(spec.netns, spec.veth)

    def reset(self, name: str, log: Callable[[str], object] = print) -> None:
        """Throw away one host's changes and boot it fresh from the rootfs."""
        state = self.state()
        record = state["hosts"].get(name)
        if record is None:
            raise LabError(f"no lab host named {name!r}")
        self._stop_host(record)
        del state["hosts"][name]
        self._save(state)
        self.up(log=log)

    def down(self, log: Callable[[str], object] = print) -> None:
        """Stop and remove everything the lab made, whatever of it is already gone; what
        cannot be removed is reported after the rest is down, and a second `down` tries again."""
        state = self.state()
        problems: list[str] = []

        def step(what: str, action: Callable[[], object]) -> None:
            try:
                action()
            except (LabError, OSError, subprocess.SubprocessError) as exc:
                problems.append(f"{what}: {exc}")

        for name, record in state["hosts"].items():
            log(f"stopping lab host {name}")
            step(f"lab host {name}", functools.partial(self._stop_host, record))
        step("apt proxy", lambda: stop_recorded_process(state.get("apt_proxy")))
        step("mirror", lambda: stop_recorded_process(state.get("mirror")))
        step("the mirror signing key's gpg-agent", self._stop_gpg_agent)
        step("outsider namespace", lambda: network.remove_namespace(f"hlab-{network.OUTSIDER_NAME}", "hlvout"))
        step("bridge", network.remove_bridge)
        if problems:
            raise LabError("lab down stopped what it could; still there:\n  " + "\n  ".join(problems) +
                           "\nrun `python tasks.py lab down` again once that is fixed")
        for path in (self.state_file, self.inventory_file, self.known_hosts, self.state_dir / "apt-cacher-ng",
                     self.state_dir / "build"):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        if self._owner() == str(self.state_dir.resolve()):
            OWNER_FILE.unlink()
        log("lab is down")

    def _stop_gpg_agent(self) -> None:
        """The agent gpg started when the mirror's repository was signed (it outlives gpg)."""
        gnupg = self.state_dir / "mirror-gnupg"
        if gnupg.is_dir():
            subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(gnupg)},
                           capture_output=True, timeout=30)

    # -- one lab per machine: its bridge and addresses are fixed ---------------------------

    @staticmethod
    def _owner() -> str | None:
        return OWNER_FILE.read_text().strip() if OWNER_FILE.exists() else None

    def _claim(self) -> None:
        """Refuse a lab of another checkout that is up on this machine; else mark it ours."""
        owner, mine = self._owner(), str(self.state_dir.resolve())
        if owner and owner != mine and (Path(owner) / "state.json").exists():
            raise LabError(f"this machine's lab belongs to the checkout at {Path(owner).parent} (one lab per "
                           "machine: its bridge and addresses are fixed); run `python tasks.py lab down` there first")
        OWNER_FILE.parent.mkdir(parents=True, exist_ok=True)
        OWNER_FILE.write_text(mine + "\n")

    # -- use -------------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        rows = []
        for name, record in self.state()["hosts"].items():
            spec = MachineSpec(**record["spec"])
            running = is_recorded_process_alive(record.get("process"))
            try:
                socket.create_connection((spec.address, spec.ssh_port), timeout=1).close()
                ssh = True
            except OSError:
                ssh = False
            rows.append({"host": name, "group": spec.group, "kind": spec.kind, "address": spec.address,
                         "ssh_port": spec.ssh_port, "running": running, "ssh": ssh})
        return rows

    def seed_stand_in_cluster(self, deployments: dict[str, dict[str, Any]], node: str = "gpu-node") -> None:
        """What the stand-in k3s's kubectl answers about Deployments ("namespace/name" ->
        {"replicas", "start_seconds", "vram_mib"}): the cluster k3s would have made from
        the deploy's manifests, for tests and `tasks.py bench` (there is no Kubernetes here)."""
        state = {"deployments": {key: {"since": 0, **value} for key, value in deployments.items()}}
        self.ssh(node, "mkdir -p /var/lib/homelab-lab/kubectl && printf %s "
                       f"{_quote(json.dumps(state))} > /var/lib/homelab-lab/kubectl/cluster.json", sudo=True)

    def ssh(self, name: str, command: str, sudo: bool = False, check: bool = True,
            timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `command` on lab host `name` over SSH as its inventory user (with sudo if
        asked), `input` on its standard input."""
        spec = self.spec(name)
        remote = f"sudo -n sh -c {_quote(command)}" if sudo else command
        proc = subprocess.run([*self.ssh_base(), "-p", str(spec.ssh_port), f"{spec.ssh_user}@{spec.address}", remote],
                              capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise LabError(f"on {name}: `{command}` failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
