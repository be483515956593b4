"""The local secrets store: API tokens, the HF token, the k3s token.

One YAML file on the control machine (path from `secrets_file` in group_data/all.py,
gitignored), mode 0600 in a 0700 directory, created on first use. An environment
variable HOMELAB_SECRET_<NAME> overrides the file, for CI or a password manager.

Values come back as `Secret`, whose str() and repr() are masked, so a secret that ends
up in an operation's arguments or a log line shows as ***. Call `.reveal()` only where
the value goes into a file that is shipped with `homelab.operations.files.file_in_place` (as a
Secret: never diffed, never on a command line) or `local_file`.

Deploys open the store with `defer_new=True`: a secret made during a deploy is kept in
memory and written to the store only when the first secret file is really shipped
(`persist_pending`, called by the upload). A `--dry` run, which ships nothing, never
writes the store.
"""

from __future__ import annotations

import os
import re
import secrets as random_source
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Generic

import yaml
from typing_extensions import TypeVar  # with a default (PEP 696), for Python 3.11

from homelab.local_files import write_private

# Secrets a person must supply: they cannot be generated.
SUPPLIED = {
    "hf_token": "a Hugging Face access token (https://huggingface.co/settings/tokens)",
    "ntfy_url": "the ntfy topic alerts go to, like https://ntfy.sh/my-lab-alerts-7f3a (README: Alerts on your phone)",
    "ntfy_token": "an ntfy access token (tk_...) for a protected topic; none for a public one",
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
# Device tokens and LiteLLM's keys reach the gateway's Caddyfile through {$VAR},
# which Caddy expands before it parses the file: a quote, brace or newline there is
# Caddyfile syntax, and a `*` makes a header matcher a prefix wildcard. Generated tokens
# (token_urlsafe(32): 43 such characters) always match.
TOKEN = re.compile(r"[A-Za-z0-9_-]{32,}")
TOKEN_HINT = ("a token of at least 32 letters, digits, '_' or '-' "
              "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))' makes one)")


def is_token(name: str) -> bool:
    return name.startswith("device_token.") or name.startswith("litellm_") or name in ("watcher_token", "waker_token")


# Secrets of a fixed shape that are not tokens: (pattern, what it must look like).
# The ntfy URL and token land in Alertmanager's YAML and its webhook's header.
FORMATS = {
    "ntfy_url": (r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/[A-Za-z0-9_-]{1,64}",
                 "an ntfy topic URL like https://ntfy.sh/my-lab-alerts-7f3a (one path segment of letters, "
                 "digits, '_' or '-'; no query)"),
    "ntfy_token": (r"tk_[A-Za-z0-9]{20,64}", "an ntfy access token (tk_ and letters or digits)"),
}


# The k3s token is one line of k3s's token file; the HF token goes into a header: neither
# may carry whitespace or control characters (an environment override could).
ONE_WORD = {"k3s_token", "hf_token"}


# WireGuard's keys: 32 bytes in base64 (wg genkey's form), lines of wg-quick's configs.
WIREGUARD_KEY = (r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=", "a WireGuard private key as `wg genkey` prints it "
                 "(44 characters of base64)")
WIREGUARD_ADDRESS = (r"(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}",
                     "an IPv4 address inside wireguard_subnet")


def _format_of(name: str) -> tuple[str, str] | None:
    if name.startswith("wireguard_key."):
        return WIREGUARD_KEY
    if name.startswith("wireguard_address."):
        return WIREGUARD_ADDRESS
    return FORMATS.get(name)


def token_problem(name: str, value: str) -> str | None:
    """Why `value` cannot be the token `name`, or None. Never shows the value."""
    shape = _format_of(name)
    if shape is not None:
        return None if re.fullmatch(shape[0], value) else f"is not {shape[1]}"
    if name in ONE_WORD and not re.fullmatch(r"[!-~]+", value):
        return "has spaces, line breaks or characters outside printable ASCII"
    if not is_token(name) or TOKEN.fullmatch(value):
        return None
    if re.search(r"[^A-Za-z0-9_-]", value):
        return "has characters other than letters, digits, '_' and '-'"
    return f"is {len(value)} characters long; a token has at least 32"


def token_hint(name: str) -> str:
    shape = _format_of(name)
    if shape is not None:
        return shape[1]
    return "the token as one word, without spaces or line breaks" if name in ONE_WORD else TOKEN_HINT


def token_fix(name: str, from_env: bool) -> str:
    if from_env:
        return f"unset {env_name(name)}, or set it to {token_hint(name)}"
    if name.startswith(("device_token.", "wireguard_key.")):
        return f"run `python tasks.py keys rotate {name.split('.', 1)[1]}` for a new token and tunnel key"
    return f"run `python tasks.py secrets set {name}` with {token_hint(name)}"


# A secret is text, or bytes (the iPad's token as a QR code); plain `Secret` means text.
Value = TypeVar("Value", str, bytes, default=str)


class Secret(Generic[Value]):
    """A secret value that does not print itself."""

    __slots__ = ("_value",)
    _value: Value

    def __init__(self, value: Value):
        self._value = value

    def reveal(self) -> Value:
        return self._value

    def __str__(self) -> str:
        return "***"

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class MissingSecret(Exception):
    pass


# Secrets made by deploys but not yet written: store path -> {name: value}.
_PENDING: dict[Path, dict[str, str]] = {}


def persist_pending() -> None:
    """Write every secret a deploy made so far into its store (before one is shipped)."""
    for path, values in list(_PENDING.items()):
        if values:
            SecretsStore(path)._merge(values)
        _PENDING.pop(path, None)


def forget_pending(path: str | os.PathLike[str], names: Iterable[str]) -> None:
    """Drop secrets this run made for the store at `path` but will not use (a refused
    host): another host's upload must not write them, or the next run would take them
    for the ones the cluster already holds."""
    pending = _PENDING.get(Path(path).expanduser().resolve(), {})
    for name in names:
        pending.pop(name, None)


class BadSecret(ValueError):
    pass


def env_name(name: str) -> str:
    return "HOMELAB_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


class SecretsStore:
    def __init__(self, path: str | os.PathLike[str], defer_new: bool = False):
        self.path = Path(path).expanduser()
        self.defer_new = defer_new

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        if self.path.stat().st_mode & 0o077:
            os.chmod(self.path, 0o600)
        data = yaml.safe_load(self.path.read_text()) or {}
        if not isinstance(data, dict):
            raise MissingSecret(f"{self.path} is not a YAML mapping of name: value")
        return {str(k): str(v) for k, v in data.items()}

    def _write(self, data: dict[str, str]) -> None:
        write_private(self.path, "# homelab secrets store: never commit, never share. Mode 0600.\n"
                      + yaml.safe_dump(dict(sorted(data.items())), default_flow_style=False))

    def _merge(self, values: dict[str, str]) -> None:
        data = self._read()
        data.update(values)
        self._write(data)

    def _pending(self) -> dict[str, str]:
        return _PENDING.get(self.path.resolve(), {})

    def names(self) -> list[str]:
        return sorted(self._read())

    def values_named(self, prefix: str) -> dict[str, str]:
        """Every stored (or made this run) name starting with `prefix`, and its value."""
        found = {**self._read(), **self._pending()}
        return {name: value for name, value in found.items() if name.startswith(prefix)}

    def has(self, name: str) -> bool:
        return env_name(name) in os.environ or name in self._read() or name in self._pending()

    def stored(self, name: str) -> bool:
        """Whether the store (or the environment) already holds `name`: not made by this run."""
        return env_name(name) in os.environ or name in self._read()

    def lookup(self, name: str) -> tuple[str, bool] | None:
        """(value, whether it came from the environment) as stored; None when not set.
        Nothing is generated or checked."""
        if env_name(name) in os.environ:
            return os.environ[env_name(name)], True
        data = self._read()
        return (data[name], False) if name in data else None

    def _found(self, name: str) -> Secret | None:
        found = self.lookup(name)
        if found is not None:
            value, from_env = found
            problem = token_problem(name, value)
            if problem:
                where = f"environment variable {env_name(name)}" if from_env else str(self.path)
                raise BadSecret(f"secret '{name}' from {where} {problem}. Fix: {token_fix(name, from_env)}")
            return Secret(value)
        if name in self._pending():
            return Secret(self._pending()[name])
        return None

    def find(self, name: str) -> Secret | None:
        """The secret `name` if it is set (or made earlier in this run), else None; never makes one."""
        return self._found(name)

    def get(self, name: str) -> Secret:
        """The secret `name` as stored (or made earlier in this run); MissingSecret if not set.
        Reading never writes: secrets a deploy makes come from get_or_make."""
        found = self._found(name)
        if found is not None:
            return found
        how = (f"{SUPPLIED[name]}. Fix: run `python tasks.py secrets set {name}` or export {env_name(name)}"
               if name in SUPPLIED else "the deploy that uses it makes it (or `python tasks.py secrets set`)")
        raise MissingSecret(f"secret '{name}' is not set in {self.path}: {how}")

    def get_or_make(self, name: str, generate: Callable[[], str] | None = None) -> Secret:
        """The secret `name`, made on first use (`generate`, default: a token) unless a
        person must supply it. With defer_new the new value waits in memory until the
        first secret file is shipped."""
        found = self._found(name)
        if found is not None:
            return found
        if name in SUPPLIED:
            return self.get(name)  # raises with the fix
        value = generate() if generate else random_source.token_urlsafe(32)
        if self.defer_new:
            _PENDING.setdefault(self.path.resolve(), {})[name] = value
            return Secret(value)
        return self.set(name, value)

    def set(self, name: str, value: str) -> Secret:
        if not _NAME.match(name):
            raise ValueError(f"secret name {name!r}: use lowercase letters, digits, '_', '.', '-'")
        problem = token_problem(name, value)
        if problem:
            raise BadSecret(f"secret '{name}': the value given {problem}; nothing was stored. "
                            f"Fix: give it {token_hint(name)}")
        self._merge({name: value})
        return Secret(value)

    def delete(self, name: str) -> bool:
        data = self._read()
        if data.pop(name, None) is None:
            return False
        self._write(data)
        return True
