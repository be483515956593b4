"""What a deploy needs to know about an SSH host, in one round trip.

Every pyinfra fact is a command over SSH (about 50 ms each here), and pyinfra's own
operations fetch theirs while the run executes, one operation after another. So the
components say up front what they will look at (`reads`, once per component module, next
to its constants), the first component that asks gets the answer for all of them in one
probe (`snapshot(host)`), and our operations decide from it without a fact of their own: a
no-op re-run costs one command per host.

    host_state.reads(LePotato, Query(files={"/etc/a.conf"}, units={"a.service"}))
    host_state.reads(GpuNode, lambda host, cfg: Query(dirs={cfg.model_cache_dir}), when=k3s.is_server)

    state = host_state.snapshot(host)
    state.file("/etc/a.conf")  # {"sha256", "mode", "user", "group"} or None
"""

from __future__ import annotations

import base64
import shlex
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from pyinfra.api.facts import FactBase
from pyinfra.api.host import Host

if TYPE_CHECKING:
    from homelab.settings import Common

# What artifact_in_place placed: "sha256 size mtime inode path" per line. The probe stats an
# artifact and takes its sha256 from here while size, mtime and inode are those recorded, so a
# no-op run reads no large file (a 70 MB k3s binary, a 10 GB image archive).
ARTIFACT_RECORD = "/var/lib/homelab/artifacts.sha256"

# uname -m -> Debian architecture name
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}


def unit_id(name: str) -> str:
    """systemd's name for a unit: "k3s" is "k3s.service"."""
    return name if "." in name else f"{name}.service"


def is_debian_like(profile: dict[str, Any]) -> bool:
    return profile.get("os_id") in ("debian", "ubuntu") or "debian" in profile.get("os_like", "").split()


def is_wsl(cfg: Common, profile: dict[str, Any]) -> bool:
    """WSL2, unless group data says otherwise (`wsl` on a GPU node): its kernel says "microsoft"."""
    configured: bool | None = getattr(cfg, "wsl", None)
    return profile["wsl"] if configured is None else configured


@dataclass
class Query:
    """What to look at: whole files (sha256 and owner), large files placed by
    artifact_in_place (stat and the recorded sha256), directories, symlinks, systemd units,
    Debian packages (names or globs), users, small files' text, filesystems."""

    files: set[str] = field(default_factory=set)
    artifacts: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    units: set[str] = field(default_factory=set)
    packages: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    contents: set[str] = field(default_factory=set)
    disks: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)  # kernel modules: loaded or loadable
    gpu: bool = False
    termux_packages: bool = False
    # Windows profile folders as WSL sees them: a folder, or "detect" (every user's)
    wsl_profiles: str | None = None

    def merge(self, other: Query) -> Query:
        for item in fields(self):
            if isinstance(getattr(self, item.name), set):
                getattr(self, item.name).update(getattr(other, item.name))
        self.gpu |= other.gpu
        self.termux_packages |= other.termux_packages
        self.wsl_profiles = self.wsl_profiles or other.wsl_profiles
        return self


# Profiles every Windows has besides the people's own.
WINDOWS_SYSTEM_PROFILES = ("Public", "Default", "Default User", "All Users", "WsiAccount", "WDAGUtilityAccount")


def _words(items: Iterable[str]) -> str:
    return " ".join(shlex.quote(item) for item in sorted(items))


def probe_script(query: Query) -> str:
    """One POSIX shell script; each line of its output is `TAG<TAB>KEY<TAB>VALUE...`."""
    parts = [
        # what kind of machine this is
        "( [ -r /etc/os-release ] && . /etc/os-release; printf 'profile\\tos_id\\t%s\\n' \"${ID:-}\"; "
        "printf 'profile\\tos_like\\t%s\\n' \"${ID_LIKE:-}\"; "
        "printf 'profile\\tos_version\\t%s\\n' \"${VERSION_ID:-}\"; "
        "printf 'profile\\tos_codename\\t%s\\n' \"${VERSION_CODENAME:-}\" )",
        "printf 'profile\\tarch\\t%s\\n' \"$(uname -m)\"; printf 'profile\\tkernel\\t%s\\n' \"$(uname -r)\"",
        "printf 'profile\\tinit\\t%s\\n' \"$(cat /proc/1/comm 2>/dev/null)\"",
        "printf 'profile\\thostname\\t%s\\n' \"$(cat /proc/sys/kernel/hostname)\"",
    ]
    # one stat, one sha256sum and one systemctl for all: forks are most of the probe's time
    if query.files:
        parts.append(f"set --; for p in {_words(query.files)}; do if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then "
                     "set -- \"$@\" \"$p\"; else printf 'file\\t%s\\t-\\n' \"$p\"; fi; done; "
                     "if [ $# -gt 0 ]; then stat --printf 'file\\t%n\\t%a %U %G\\n' -- \"$@\"; "
                     "sha256sum -- \"$@\" | sed 's/^/sha256\\t/'; fi")
    if query.artifacts:
        parts.append(f"for p in {_words(query.artifacts)}; do if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then "
                     "stat --printf 'artifact\\t%n\\t%s %Y %i %a\\n' -- \"$p\"; "
                     "else printf 'artifact\\t%s\\t-\\n' \"$p\"; fi; done; "
                     f"sed 's/^/placed\\t/' {ARTIFACT_RECORD} 2>/dev/null")
    if query.dirs:
        parts.append(f"set --; for p in {_words(query.dirs)}; do if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then "
                     "set -- \"$@\" \"$p\"; else printf 'dir\\t%s\\t-\\n' \"$p\"; fi; done; "
                     "if [ $# -gt 0 ]; then stat --printf 'dir\\t%n\\t%a %U %G %u %g\\n' -- \"$@\"; fi")
    if query.links:
        parts.append(f"for p in {_words(query.links)}; do if [ -L \"$p\" ]; then "
                     "printf 'link\\t%s\\t%s\\n' \"$p\" \"$(readlink \"$p\")\"; "
                     "else printf 'link\\t%s\\t-\\n' \"$p\"; fi; done")
    if query.units:
        parts.append(f"systemctl show -p Id -p ActiveState -p UnitFileState -- {_words(query.units)} 2>/dev/null "
                     "| sed -n 's/^\\(Id\\|ActiveState\\|UnitFileState\\)=/unit\\t\\1\\t/p'")
    if query.packages:
        parts.append(f"dpkg-query -W -f 'package\\t${{Package}}\\t${{Status}}\\t${{Version}}\\n' "
                     f"{_words(query.packages)} 2>/dev/null")
    if query.users:
        parts.append(f"for u in {_words(query.users)}; do if getent passwd \"$u\" >/dev/null; then "
                     "printf 'user\\t%s\\tyes\\n' \"$u\"; else printf 'user\\t%s\\t-\\n' \"$u\"; fi; done")
    if query.contents:
        parts.append(f"for p in {_words(query.contents)}; do if [ -f \"$p\" ]; then "
                     "printf 'content\\t%s\\t%s\\n' \"$p\" \"$(base64 -w0 < \"$p\")\"; "
                     "else printf 'content\\t%s\\t-\\n' \"$p\"; fi; done")
    for path in sorted(query.disks):
        parts.append(f"p={shlex.quote(path)}; while [ ! -e \"$p\" ]; do p=$(dirname \"$p\"); done; "
                     f"printf 'disk\\t%s\\t%s\\n' {shlex.quote(path)} \"$(df -Pk \"$p\" | tail -n 1)\"")
    if query.modules:
        parts.append(f"for m in {_words(query.modules)}; do if [ -d \"/sys/module/$m\" ] || "
                     "modprobe -nq \"$m\" 2>/dev/null; then printf 'module\\t%s\\tyes\\n' \"$m\"; "
                     "else printf 'module\\t%s\\t-\\n' \"$m\"; fi; done")
    if query.gpu:
        parts.append("for d in /dev/dxg /dev/nvidia0; do [ -e \"$d\" ] && printf 'gpu\\tdevice\\t%s\\n' \"$d\"; done; "
                     "for s in /usr/lib/wsl/lib/nvidia-smi \"$(command -v nvidia-smi)\"; do [ -x \"$s\" ] || continue; "
                     "printf 'gpu\\tsmi\\t%s\\n' \"$s\"; "
                     "\"$s\" --query-gpu=name,memory.total --format=csv,noheader,nounits "
                     "2>/dev/null | head -n 1 | sed 's/^/gpu\\tinfo\\t/'; break; done")
    if query.termux_packages:
        parts.append("pkg list-installed 2>/dev/null | sed -n 's|^\\([^/]*\\)/.*installed.*|termux\\t\\1\\tyes|p'")
    if query.wsl_profiles:
        if query.wsl_profiles == "detect":
            skip = "|".join(shlex.quote(name) for name in WINDOWS_SYSTEM_PROFILES)
            loop = f'for d in /mnt/c/Users/*/; do d="${{d%/}}"; case "${{d##*/}}" in {skip}) continue;; esac; '
        else:
            loop = f"for d in {shlex.quote(query.wsl_profiles)}; do [ -d \"$d\" ] || continue; "
        parts.append(loop + "if [ -f \"$d/.wslconfig\" ]; then printf 'wslconfig\\t%s\\t%s\\n' \"$d\" "
                     "\"$(base64 -w0 < \"$d/.wslconfig\")\"; else printf 'wslconfig\\t%s\\t-\\n' \"$d\"; fi; done")
    return "; ".join(parts) + "; true"


@dataclass
class Snapshot:
    """The probe's answer (see Query); a path or name the probe was not asked about raises KeyError."""

    profile: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, str] | None] = field(default_factory=dict)
    # size, mtime, inode, mode, and sha256 when the record vouches for this size, mtime and inode
    artifacts: dict[str, dict[str, str] | None] = field(default_factory=dict)
    dirs: dict[str, dict[str, str] | None] = field(default_factory=dict)
    links: dict[str, str | None] = field(default_factory=dict)
    units: dict[str, dict[str, str]] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)  # installed name -> version
    users: dict[str, bool] = field(default_factory=dict)
    contents: dict[str, str | None] = field(default_factory=dict)
    disks: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, bool] = field(default_factory=dict)
    gpu: dict[str, Any] = field(default_factory=lambda: {"devices": [], "smi": None, "name": None, "memory_mib": None})
    termux_packages: set[str] = field(default_factory=set)
    wsl_profiles: dict[str, str | None] = field(default_factory=dict)

    def file(self, path: str) -> dict[str, str] | None:
        return self.files[path]

    def unit(self, name: str) -> dict[str, str]:
        """systemd's answer for a unit asked for as `name` (k3s: k3s.service)."""
        return self.units[unit_id(name)]


def parse(lines: list[str]) -> Snapshot:
    state = Snapshot()
    unit: dict[str, str] = {}
    placed: dict[str, list[str]] = {}
    for line in lines:
        tag, _, rest = line.partition("\t")
        fields = rest.split("\t")
        try:
            if tag == "profile" and len(fields) == 2:
                state.profile[fields[0]] = fields[1]
            elif tag == "file":
                # a file's entry is None only when it is missing, and a missing file has no stat line
                state.files[fields[0]] = None if fields[1:] == ["-"] else {
                    **cast("dict[str, str]", state.files.get(fields[0], {})),
                    **dict(zip(("mode", "user", "group"), fields[1].split(" ")))}
            elif tag == "sha256":
                digest, _, path = fields[0].partition("  ")
                state.files[path] = {**(state.files.get(path) or {}), "sha256": digest}
            elif tag == "artifact":
                state.artifacts[fields[0]] = None if fields[1:] == ["-"] else dict(
                    zip(("size", "mtime", "inode", "mode"), fields[1].split(" ")))
            elif tag == "placed":
                record = fields[0].split(" ")
                if len(record) == 5:
                    placed[record[4]] = record[:4]
            elif tag == "dir":
                state.dirs[fields[0]] = None if fields[1:] == ["-"] else dict(
                    zip(("mode", "user", "group", "uid", "gid"), fields[1].split(" ")))
            elif tag == "link":
                state.links[fields[0]] = None if fields[1] == "-" else fields[1]
            elif tag == "unit" and fields[0] == "Id":
                unit = state.units[fields[1]] = {"active": "", "enabled": ""}
            elif tag == "unit":  # the Id line comes first in each unit's block
                unit["active" if fields[0] == "ActiveState" else "enabled"] = fields[1]
            elif tag == "package" and len(fields) >= 3 and fields[1].startswith("install ok installed"):
                state.packages[fields[0]] = fields[2]
            elif tag == "user":
                state.users[fields[0]] = fields[1] == "yes"
            elif tag == "content":
                state.contents[fields[0]] = None if fields[1] == "-" else base64.b64decode(fields[1]).decode(
                    "utf-8", "replace")
            elif tag == "disk":
                df = fields[1].split()
                state.disks[fields[0]] = {"size_kb": int(df[1]), "avail_kb": int(df[3]),
                                          "used_percent": int(df[4].rstrip("%")), "mount": df[5]}
            elif tag == "module":
                state.modules[fields[0]] = fields[1] == "yes"
            elif tag == "gpu":
                if fields[0] == "device":
                    state.gpu["devices"].append(fields[1])
                elif fields[0] == "smi":
                    state.gpu["smi"] = fields[1]
                elif fields[0] == "info" and "," in fields[1]:
                    name, memory = fields[1].rsplit(",", 1)
                    state.gpu["name"] = name.strip()
                    state.gpu["memory_mib"] = int(memory.strip()) if memory.strip().isdigit() else None
            elif tag == "termux":
                state.termux_packages.add(fields[0])
            elif tag == "wslconfig":
                state.wsl_profiles[fields[0]] = None if fields[1] == "-" else base64.b64decode(fields[1]).decode(
                    "utf-8", "replace")
        except (IndexError, ValueError):
            continue  # not one of the probe's lines (a path that was not one word): its entry stays missing
    for path, artifact in state.artifacts.items():
        digest, *stamp = placed.get(path, ["", "", "", ""])
        if artifact and [artifact["size"], artifact["mtime"], artifact["inode"]] == stamp:
            artifact["sha256"] = digest
    profile = state.profile
    profile["deb_arch"] = DEB_ARCH.get(profile.get("arch", ""), profile.get("arch", ""))
    profile["wsl"] = "microsoft" in profile.get("kernel", "").lower()
    return state


class HostState(FactBase[Snapshot]):
    """The probe as a pyinfra fact (see the module's docstring)."""

    def command(self, script: str) -> str:
        return script

    def process(self, output: list[str]) -> Snapshot:
        return parse(output)


Settings = TypeVar("Settings", bound="Common")


@dataclass(frozen=True)
class Reads(Generic[Settings]):
    """What one component reads on the hosts whose settings are of class `hosts`: a fixed
    Query, or one computed from the host and its settings; `when` narrows it further
    (the k3s server only, a feature switched on)."""

    hosts: type[Settings]
    query: Query | Callable[[Host, Settings], Query]
    when: Callable[[Host, Settings], bool] | None = None

    def query_for(self, host: Host, cfg: Common) -> Query | None:
        if not isinstance(cfg, self.hosts) or (self.when is not None and not self.when(host, cfg)):
            return None
        return self.query(host, cfg) if callable(self.query) else self.query


_READS: list[Reads[Any]] = []
_SNAPSHOTS: weakref.WeakKeyDictionary[Host, Snapshot] = weakref.WeakKeyDictionary()


def reads(hosts: type[Settings], query: Query | Callable[[Host, Settings], Query], *,
          when: Callable[[Host, Settings], bool] | None = None) -> Reads[Settings]:
    """Register what a component will look at on every host of that settings class."""
    declared = Reads(hosts, query, when)
    _READS.append(declared)
    return declared


def query_for(host: Host) -> Query:
    from homelab.host_settings import settings_for

    cfg = settings_for(host)
    query = Query()  # a fresh one: the registered Queries are shared by every host
    for declared in _READS:
        wanted = declared.query_for(host, cfg)
        if wanted is not None:
            query.merge(wanted)
    return query


def snapshot(host: Host) -> Snapshot:
    """This host's state, probed once per run with every registered component's query."""
    from homelab.host_settings import real_host

    real = real_host(host)
    if real not in _SNAPSHOTS:
        query = query_for(real)
        state = real.get_fact(HostState, script=probe_script(query))
        for unit in query.units:  # no answer from systemd (not PID 1): neither enabled nor running
            state.units.setdefault(unit_id(unit), {"active": "", "enabled": ""})
        _SNAPSHOTS[real] = state
    return _SNAPSHOTS[real]
