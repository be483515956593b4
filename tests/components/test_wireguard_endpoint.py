"""Away from home, on the lab: the Le Potato lab host runs the WireGuard endpoint
(wireguard-go: this kernel has no WireGuard module, and the probe finds none), the
iPad's rendered config brings a tunnel up in the lab's "outsider" namespace (10.77.0.250,
outside every allowlist), and the real Caddy gateway answers on the GPU-node lab host.

The tunnel is switched on for these tests only (`--data wireguard_endpoint=<board>`); the
last test switches it off again and checks it is gone."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from homelab.lab.network import OUTSIDER_NAME
from tests.components.test_ipad_profile import decode_qr
from tests.support import assert_converges, assert_idempotent, assert_repairs, inventory_variant, run_deploy

pytestmark = pytest.mark.lab
NETNS = f"hlab-{OUTSIDER_NAME}"
INTERFACE = "hlout"  # the outsider's tunnel (wg-quick names it after its file)
BOARD_TUNNEL = "10.99.0.1"
WG_QUICK = shutil.which("wg-quick")


def data(lab) -> tuple[str, str]:
    return "--data", f"wireguard_endpoint={lab.spec('potato').address}"


def outsider(*command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", NETNS, *command], capture_output=True, text=True, timeout=timeout)


def status_through(url: str, token: str) -> str:
    """The HTTP status the outsider gets for GET url (000: no connection)."""
    return outsider("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "8",
                    "-H", f"Authorization: Bearer {token}", url).stdout


def tunnel_up(config: Path, tmp: Path) -> None:
    tunnel_down()
    target = tmp / f"{INTERFACE}.conf"
    target.write_text(config.read_text())
    target.chmod(0o600)
    up = outsider(WG_QUICK or "wg-quick", "up", str(target))
    assert up.returncode == 0, up.stderr


def tunnel_down() -> None:
    outsider("ip", "link", "del", INTERFACE)
    subprocess.run(["pkill", "-f", f"wireguard-go {INTERFACE}"], capture_output=True)


def handshakes() -> int:
    shown = outsider("wg", "show", INTERFACE, "latest-handshakes").stdout.split()
    return int(shown[1]) if len(shown) == 2 else 0


@pytest.fixture(scope="module")
def tunnel(lab, inventory, converged_potato, gateway, tmp_path_factory):
    if not WG_QUICK or not shutil.which("wireguard-go"):
        pytest.skip("wireguard-tools and wireguard-go are not installed here (scripts/bootstrap.sh installs them)")
    assert_converges("le_potato", inventory, *data(lab), limit="potato")
    assert_converges("clients", inventory, *data(lab), limit="ipad", expect_changes=None)
    folder = lab.state_dir / "build" / "ipad"
    tmp = tmp_path_factory.mktemp("tunnel")
    tunnel_up(folder / "SECRET-wireguard.conf", tmp)
    yield {"folder": folder, "tmp": tmp}
    tunnel_down()


def test_outsider_gets_403_directly_and_200_through_the_tunnel(lab, tunnel, gateway):
    token = gateway.tokens()["ipad"]
    direct = f"http://{lab.spec('gpu-node').address}:8080/v1/models"
    assert status_through(direct, token) == "403"
    assert status_through(f"http://{BOARD_TUNNEL}:8080/v1/models", token) == "200"
    assert handshakes() > 0
    # the gateway still checks the token
    assert status_through(f"http://{BOARD_TUNNEL}:8080/v1/models", "x" * 43) == "401"


def test_the_tunnel_reaches_the_gateway_and_nothing_else(lab, tunnel):
    """Ports the owner did not open stay shut at the board: its own SSH, and the GPU
    node's SSH even when a client routes the LAN address into the tunnel itself."""
    assert status_through(f"http://{BOARD_TUNNEL}:22/", "x") == "000"
    gpu_node = lab.spec("gpu-node").address
    # a client that changed its own config to send the LAN through the tunnel
    board_key = outsider("wg", "show", INTERFACE, "peers").stdout.strip()
    assert outsider("wg", "set", INTERFACE, "peer", board_key, "allowed-ips",
                    f"{BOARD_TUNNEL}/32,{gpu_node}/32").returncode == 0
    outsider("ip", "route", "add", f"{gpu_node}/32", "dev", INTERFACE)
    try:
        reached = outsider("bash", "-c", f"timeout 4 bash -c '</dev/tcp/{gpu_node}/22'")
        assert reached.returncode != 0, "the GPU node's SSH answered through the tunnel"
    finally:
        outsider("ip", "route", "del", f"{gpu_node}/32", "dev", INTERFACE)
        outsider("wg", "set", INTERFACE, "peer", board_key, "allowed-ips", f"{BOARD_TUNNEL}/32")


def test_the_ipads_qr_code_is_its_config_file(tunnel):
    config = (tunnel["folder"] / "SECRET-wireguard.conf").read_text()
    assert "PrivateKey = " in config and f"AllowedIPs = {BOARD_TUNNEL}/32" in config
    assert decode_qr(tunnel["folder"] / "SECRET-wireguard-qr.png") == config.rstrip("\n")
    for name in ("SECRET-wireguard.conf", "SECRET-wireguard-qr.png"):
        assert (tunnel["folder"] / name).stat().st_mode & 0o777 == 0o600


def test_a_hand_edited_config_is_repaired(lab, inventory, tunnel):
    """(assert_repairs also runs the deploy once more: zero changes on a converged board)"""
    listing = lab.ssh("potato", "stat -c '%a %U' /etc/wireguard/wg0.conf", sudo=True).stdout.split()
    assert listing == ["600", "root"]
    lab.ssh("potato", "sed -i 's/^ListenPort = .*/ListenPort = 51999/' /etc/wireguard/wg0.conf && "
                      "systemctl restart wg-quick@wg0", sudo=True)
    run = assert_repairs("le_potato", inventory, "potato", *data(lab), limit="potato")
    assert "WireGuard endpoint | Tunnel config (keys and peers)" in run.changed_operations("potato")
    assert "ListenPort = 51820" in lab.ssh("potato", "cat /etc/wireguard/wg0.conf", sudo=True).stdout
    tunnel_up(tunnel["folder"] / "SECRET-wireguard.conf", tunnel["tmp"])
    assert status_through(f"http://{BOARD_TUNNEL}:8080/v1/models", "x" * 43) == "401"


def test_a_revoked_peer_no_longer_completes_a_handshake(lab, inventory, tunnel):
    store = Path(lab.state_dir) / "secrets.yaml"
    kept = store.read_bytes()
    result = subprocess.run([".venv/bin/python", "tasks.py", "keys", "revoke", "ipad", "--inventory",
                             str(lab.inventory_file)],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert result.returncode == 0, result.stderr
        run = run_deploy("le_potato", inventory, *data(lab), limit="potato")
        assert run.returncode == 0, run.explain()
        assert "# ipad" not in lab.ssh("potato", "cat /etc/wireguard/wg0.conf", sudo=True).stdout
        tunnel_up(tunnel["folder"] / "SECRET-wireguard.conf", tunnel["tmp"])  # the old config, fresh
        assert status_through(f"http://{BOARD_TUNNEL}:8080/v1/models", "x" * 43) == "000"
        time.sleep(1)
        assert handshakes() == 0
    finally:
        store.write_bytes(kept)
        store.chmod(0o600)
    assert_converges("le_potato", inventory, *data(lab), limit="potato")
    tunnel_up(tunnel["folder"] / "SECRET-wireguard.conf", tunnel["tmp"])
    assert status_through(f"http://{BOARD_TUNNEL}:8080/v1/models", "x" * 43) == "401"


PHONE_HOME = "/data/data/com.termux/files/home"
PHONE_NETNS = "hlab-pixel"
PHONE_TUNNEL = "hlpix"  # the WireGuard app's tunnel on the phone


@pytest.fixture
def phone_and_macbook(lab, inventory, tunnel):
    """The phone and the MacBook deployed with the tunnel on; afterwards as before."""
    for device in ("pixel", "@local"):
        run = run_deploy("clients", inventory, *data(lab), limit=device)
        assert run.returncode == 0 and not run.failed_hosts, run.explain()
    yield
    subprocess.run(["ip", "netns", "exec", PHONE_NETNS, "ip", "link", "del", PHONE_TUNNEL], capture_output=True)
    subprocess.run(["pkill", "-f", f"wireguard-go {PHONE_TUNNEL}"], capture_output=True)
    subprocess.run(["ip", "netns", "exec", PHONE_NETNS, "ip", "route", "del", "blackhole",
                    f"{lab.spec('gpu-node').address}/32"], capture_output=True)
    for device in ("pixel", "@local"):
        assert_converges("clients", inventory, limit=device, expect_changes=None)
    gone = lab.ssh("pixel", f"ls {PHONE_HOME}/.config/homelab/", check=False).stdout
    assert "wireguard.conf" not in gone and "openai.env" in gone
    assert not list((lab.state_dir / "build" / "pixel").glob("SECRET-wireguard*"))
    assert not (lab.state_dir / "build" / "macbook-home" / ".config" / "homelab" / "wireguard.conf").exists()


def test_the_phone_and_the_macbook_get_their_tunnel(lab, phone_and_macbook, tunnel):
    """The phone: its config on the phone (0600) and as file and QR code on the MacBook, its
    env file's way in from outside; with the LAN address unreachable and the WireGuard app's
    tunnel up (wg-quick in the phone's network namespace, as the app would), its widget goes
    through the tunnel. The MacBook: its config in ~/.config/homelab (0600) and env file."""
    on_phone = lab.ssh("pixel", f"stat -c %a {PHONE_HOME}/.config/homelab/wireguard.conf && "
                                f"cat {PHONE_HOME}/.config/homelab/wireguard.conf").stdout
    mode, _, config = on_phone.partition("\n")
    folder = lab.state_dir / "build" / "pixel"
    assert mode == "600" and config == (folder / "SECRET-wireguard.conf").read_text()
    assert decode_qr(folder / "SECRET-wireguard-qr.png") == config.rstrip("\n")
    assert f"AllowedIPs = {BOARD_TUNNEL}/32" in config and "Address = 10.99.0." in config
    env = lab.ssh("pixel", f"cat {PHONE_HOME}/.config/homelab/openai.env").stdout
    assert f'export HOMELAB_AWAY_BASE_URL="http://{BOARD_TUNNEL}:8080/v1"' in env
    home = lab.state_dir / "build" / "macbook-home" / ".config" / "homelab"
    mac_config = (home / "wireguard.conf").read_text()
    assert (home / "wireguard.conf").stat().st_mode & 0o777 == 0o600
    assert "PrivateKey = " in mac_config and mac_config != config
    assert f"Endpoint = {lab.spec('potato').address}:51820" in mac_config
    assert f'HOMELAB_AWAY_BASE_URL="http://{BOARD_TUNNEL}:8080/v1"' in (home / "openai.env").read_text()

    # away from home: the LAN address does not answer, the app's tunnel is up
    subprocess.run(["ip", "netns", "exec", PHONE_NETNS, "ip", "route", "add", "blackhole",
                    f"{lab.spec('gpu-node').address}/32"], check=True)
    target = tunnel["tmp"] / f"{PHONE_TUNNEL}.conf"
    target.write_text(config)
    target.chmod(0o600)
    up = subprocess.run(["ip", "netns", "exec", PHONE_NETNS, WG_QUICK or "wg-quick", "up", str(target)],
                        capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    health = lab.ssh("pixel", f"{PHONE_HOME}/.shortcuts/lab-health", check=False)
    assert health.stdout.startswith("lab UP through the tunnel"), (health.stdout, health.stderr)


def test_doctor_reports_each_peers_last_handshake(lab, tunnel, tmp_path):
    from click.testing import CliRunner

    from tasks import cli

    endpoint = {"wireguard_endpoint": lab.spec("potato").address}
    variant = inventory_variant(lab, tmp_path, {name: endpoint for name in
                                                ("gpu-node", "potato", "pixel", "@render/ipad", "@local")})
    status_through(f"http://{BOARD_TUNNEL}:8080/v1/models", "x" * 43)  # a fresh handshake
    out = CliRunner().invoke(cli, ["doctor", "--inventory", str(variant)]).output
    lines = {line.split("  ")[0].strip(): line for line in out.splitlines() if "tunnel" in line}
    assert any("tunnel peer ipad" in line and "last handshake" in line and " s ago" in line
               for line in out.splitlines()), out
    assert any("tunnel peer macbook" in line and "never connected" in line for line in out.splitlines()), out
    assert any("WireGuard tunnel up" in line for line in out.splitlines()), lines


def test_switched_off_the_endpoint_is_gone(lab, inventory, tunnel):
    assert_converges("le_potato", inventory, limit="potato")
    assert_converges("clients", inventory, limit="ipad")
    assert not list(tunnel["folder"].glob("SECRET-wireguard*")), "the iPad's tunnel files outlived the tunnel"
    gone = lab.ssh("potato", "systemctl is-active wg-quick@wg0 homelab-tunnel-firewall; "
                             "ls /etc/wireguard/wg0.conf; nft list table inet homelab_tunnel", sudo=True, check=False)
    assert gone.stdout.split()[:2] == ["inactive", "inactive"] and "No such file" in gone.stderr, gone
    assert_idempotent("le_potato", inventory, limit="potato")
