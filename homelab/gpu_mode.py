"""Game mode, the parts everyone shares: where the node keeps its state, the account the
owner's devices use, and their keys.

How the GPU is released (group_data/gpu_nodes.py says the same where a person reads it):
the engines are scaled to zero, not put to sleep. vLLM v0.11.1 has a sleep mode
(--enable-sleep-mode, POST /sleep and /wake_up), and the vllm-stack 0.1.12 router proxies
them, but (1) the endpoints are served only with VLLM_SERVER_DEV_MODE=1, which also
opens vLLM's other development endpoints; (2) sleeping relies on CUDA's virtual memory
API (cuMemCreate), whose behaviour under WSL2 has open reports at NVIDIA; (3) level 1
keeps the weights in WSL's memory, which the game needs as much as the GPU's. Scaling
to zero frees both, works with any vLLM, and is undone by scaling back.

A device's game-mode key is an ed25519 key pair made on this machine and kept in the
secrets store (`gpu_remote_key.<device>`, OpenSSH format); the private key goes to the
device (mode 0600), the public one into the homelab-gpu account's authorized_keys with a
forced command: a lost phone can pause and resume the AI side, nothing else, and
`python tasks.py keys revoke <device>` takes even that away at the next deploy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homelab.secrets_store import Secret, SecretsStore

if TYPE_CHECKING:
    from pyinfra.api.inventory import Inventory

TOOL = "/usr/local/bin/homelab-gpu"
REMOTE = "/usr/local/bin/homelab-gpu-remote"
CONFIG = "/etc/homelab/gpu-mode.json"
SUDOERS = "/etc/sudoers.d/homelab-gpu"
STATE_DIR = "/var/lib/homelab/gpu-mode"
METRICS_DIR = f"{STATE_DIR}/metrics"
PAUSED_MARKER = f"{STATE_DIR}/paused"  # the k3s server's engines are paused: the gateway answers 503
METRICS_FILE = f"{METRICS_DIR}/homelab_gpu_mode.prom"
ACCOUNT = "homelab-gpu"
VERBS = ("pause", "resume", "status")


def markers(nodes: list[str]) -> list[str]:
    """Each GPU node's "paused" marker (the first node is the k3s server's, the gateway's)."""
    return [PAUSED_MARKER, *(f"{STATE_DIR}/paused-{node}" for node in nodes[1:])]


def any_paused(known_files: Mapping[str, object], nodes: list[str]) -> bool:
    """Whether any node's marker exists, in the probe's `files`."""
    return any(known_files[marker] is not None for marker in markers(nodes))


def owner_keys(inventory: Inventory, store: SecretsStore) -> dict[str, str]:
    """The public game-mode key of each of the owner's phones (made on first use)."""
    from homelab import devices

    return {device: remote_key(store, device).public for device in devices.owner_devices(inventory, store)}


# What the node exporter shows before homelab-gpu first runs: serving.
INITIAL_METRICS = ("# HELP homelab_gpu_mode The AI side: 0 serving, 1 paused (GPU lent to a game), 2 resuming.\n"
                   "# TYPE homelab_gpu_mode gauge\nhomelab_gpu_mode 0\n")


def key_name(device: str) -> str:
    return f"gpu_remote_key.{device}"


@dataclass(frozen=True)
class RemoteKey:
    private: Secret  # OpenSSH private key text
    public: str  # "ssh-ed25519 AAAA..."


def _new_private_key() -> str:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


def remote_key(store: SecretsStore, device: str) -> RemoteKey:
    """The device's game-mode key pair (made on first use, kept in the secrets store)."""
    private = store.get_or_make(key_name(device), generate=_new_private_key)
    loaded = serialization.load_ssh_private_key(private.reveal().encode(), password=None)
    public = loaded.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                              serialization.PublicFormat.OpenSSH).decode()
    return RemoteKey(private, public)
