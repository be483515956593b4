"""The tunnel's keys and addresses in the secrets store (no lab needed: made on the MacBook)."""

import base64

import pytest

from homelab import devices, tunnel_peers
from homelab.secrets_store import BadSecret, SecretsStore


def b64(hex_text: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_text)).decode()


def test_public_keys_are_what_wg_pubkey_gives():
    """RFC 7748, 6.1: Alice's X25519 key pair (WireGuard's keys are these, in base64)."""
    private = b64("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    assert tunnel_peers.public_key(private) == b64("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    made = tunnel_peers.new_private_key()
    assert len(base64.b64decode(made)) == 32 and made != tunnel_peers.new_private_key()


class Cfg:
    wireguard_subnet = "10.99.0.0/29"  # the board .1, devices .2 to .6


def test_addresses_are_kept_and_the_lowest_free_one_is_given(tmp_path):
    store = SecretsStore(tmp_path / "secrets.yaml")
    given = [tunnel_peers.device_address(store, Cfg, name) for name in ("a", "b", "c")]
    assert given == ["10.99.0.2", "10.99.0.3", "10.99.0.4"]
    store.delete("wireguard_address.b")
    assert tunnel_peers.device_address(store, Cfg, "d") == "10.99.0.3"
    assert tunnel_peers.device_address(store, Cfg, "a") == "10.99.0.2"  # kept
    for name in ("e", "f"):
        tunnel_peers.device_address(store, Cfg, name)
    with pytest.raises(ValueError, match="no free address left for g"):
        tunnel_peers.device_address(store, Cfg, "g")


def test_rotate_rekeys_the_tunnel_and_revoke_removes_its_key(tmp_path):
    store = SecretsStore(tmp_path / "secrets.yaml")
    first = tunnel_peers.device_key(store, "pixel").reveal()
    address = tunnel_peers.device_address(store, Cfg, "pixel")
    devices.rotate(store, "pixel")
    second = tunnel_peers.device_key(store, "pixel").reveal()
    assert second != first and tunnel_peers.device_address(store, Cfg, "pixel") == address
    devices.revoke(store, "pixel")
    assert not store.has("wireguard_key.pixel") and devices.is_revoked(store, "pixel")


def test_a_tunnel_key_that_is_not_one_is_refused(tmp_path):
    store = SecretsStore(tmp_path / "secrets.yaml")
    with pytest.raises(BadSecret, match="a WireGuard private key"):
        store.set("wireguard_key.pixel", "not a key\nPostUp = reboot")
