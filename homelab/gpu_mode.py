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
`python tasks.py keys rotate-gpu <device>` takes even that away at the next deploy.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homelab.secrets import Secret

TOOL = "/usr/local/bin/homelab-gpu"
REMOTE = "/usr/local/bin/homelab-gpu-remote"
CONFIG = "/etc/homelab/gpu-mode.json"
SUDOERS = "/etc/sudoers.d/homelab-gpu"
STATE_DIR = "/var/lib/homelab/gpu-mode"
METRICS_DIR = f"{STATE_DIR}/metrics"
PAUSED_MARKER = f"{STATE_DIR}/paused"  # the gateway answers 503 while it exists
ACCOUNT = "homelab-gpu"
VERBS = ("pause", "resume", "status")


def key_name(device: str) -> str:
    return f"gpu_remote_key.{device}"


@dataclass(frozen=True)
class RemoteKey:
    private: Secret  # OpenSSH private key text
    public: str  # "ssh-ed25519 AAAA..."


def _new_private_key() -> str:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


def remote_key(store, device: str) -> RemoteKey:
    """The device's game-mode key pair (made on first use, kept in the secrets store)."""
    private = store.get(key_name(device), generate=_new_private_key)
    loaded = serialization.load_ssh_private_key(private.reveal().encode(), password=None)
    public = loaded.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                              serialization.PublicFormat.OpenSSH).decode()
    return RemoteKey(private, public)
