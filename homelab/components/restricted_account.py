"""An account whose keys can run one forced command and nothing else: what the owner's
phone uses to pause the AI side (homelab-gpu on the k3s server) or wake a PC
(homelab-wake on the Le Potato). `restrict` takes away the shell, forwarding, agent and
X11 for every key; the command names the device, so the host knows who asked."""

from __future__ import annotations

from homelab.host_state import Query, Snapshot
from homelab.operations.files import ManagedFile, directory_in_place
from homelab.operations.server import user_present


def home(account: str) -> str:
    return f"/home/{account}"


def keys_path(account: str) -> str:
    return f"{home(account)}/.ssh/authorized_keys"


def query(account: str) -> Query:
    """What restricted_account looks at on the host."""
    return Query(users={account}, dirs={f"{home(account)}/.ssh"}, files={keys_path(account)})


def authorized_keys(forced_command: str, keys: dict[str, str]) -> str:
    """One restricted line per device (device -> its public key)."""
    lines = [f"# Managed by homelab (pyinfra): the owner's devices' keys, each for {forced_command} only."]
    for device, public_key in sorted(keys.items()):
        lines.append(f'restrict,command="{forced_command} {device}" {public_key} homelab@{device}')
    return "\n".join(lines) + "\n"


def restricted_account(account: str, forced_command: str, keys: dict[str, str], state: Snapshot) -> ManagedFile:
    """The account and its .ssh directory; returns its authorized_keys, for the caller's
    files_in_place."""
    user_present(name=f"Account {account} (the owner's devices' keys)", user=account, home=home(account),
                 known=state.users[account])
    directory_in_place(name=f"{home(account)}/.ssh", path=f"{home(account)}/.ssh", user=account, group=account,
                       mode="700", known=state.dirs[f"{home(account)}/.ssh"])
    return ManagedFile(f"{account}: keys of the owner's devices", keys_path(account),
                       authorized_keys(forced_command, keys), mode="600", user=account, group=account,
                       from_secrets=True)
