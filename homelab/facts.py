"""Facts of our own: few and cheap, so a no-op re-run stays a quick drift check."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

# uname -m -> Debian architecture name
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}


class HostProfile(FactBase):
    """What kind of machine this is, in one round trip.

    Returns a dict: os_id, os_like, os_version, os_codename (from /etc/os-release, empty
    on Termux), arch (uname -m), deb_arch, kernel, wsl (bool), init (PID 1's name),
    hostname.
    """

    def command(self) -> str:
        return (
            "( [ -r /etc/os-release ] && . /etc/os-release; "
            'echo "os_id=${ID:-}"; echo "os_like=${ID_LIKE:-}"; '
            'echo "os_version=${VERSION_ID:-}"; echo "os_codename=${VERSION_CODENAME:-}" ); '
            'echo "arch=$(uname -m)"; echo "kernel=$(uname -r)"; '
            'echo "init=$(cat /proc/1/comm 2>/dev/null)"; '
            'echo "hostname=$(cat /proc/sys/kernel/hostname)"'
        )

    def process(self, output):
        profile = dict(line.split("=", 1) for line in output if "=" in line)
        profile["deb_arch"] = DEB_ARCH.get(profile.get("arch", ""), profile.get("arch", ""))
        profile["wsl"] = "microsoft" in profile.get("kernel", "").lower()
        return profile


def is_debian_like(profile: dict) -> bool:
    return profile.get("os_id") == "debian" or "debian" in profile.get("os_like", "").split() or profile.get("os_id") == "ubuntu"


class FilesystemUsage(FactBase):
    """Usage of the filesystem that holds `path` (or would, once it exists).

    Returns a dict: mount, size_kb, avail_kb, used_percent.
    """

    def command(self, path: str) -> str:
        # quoted although settings allow only plain paths: this runs under --dry and in doctor too
        return (f'p={shlex.quote(path)}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; '
                'df -Pk "$p" | tail -n 1')

    def process(self, output):
        fields = output[-1].split()
        return {"size_kb": int(fields[1]), "avail_kb": int(fields[3]),
                "used_percent": int(fields[4].rstrip("%")), "mount": fields[5]}


class GpuProbe(FactBase):
    """Whether the NVIDIA GPU is visible: the device node (WSL2's /dev/dxg, bare metal's
    /dev/nvidia0), nvidia-smi (WSL2 mounts it at /usr/lib/wsl/lib), and what it reports.

    Returns a dict: devices (list), smi (path or None), name, memory_mib (or None).
    """

    def command(self) -> str:
        return (
            'for d in /dev/dxg /dev/nvidia0; do [ -e "$d" ] && echo "device=$d"; done; '
            'for s in /usr/lib/wsl/lib/nvidia-smi "$(command -v nvidia-smi)"; do '
            '[ -x "$s" ] || continue; echo "smi=$s"; '
            '"$s" --query-gpu=name,memory.total --format=csv,noheader,nounits 2>/dev/null | head -n 1 | sed "s/^/gpu=/"; '
            "break; done; true"
        )

    def process(self, output):
        probe = {"devices": [], "smi": None, "name": None, "memory_mib": None}
        for line in output:
            key, _, value = line.partition("=")
            if key == "device":
                probe["devices"].append(value)
            elif key == "smi":
                probe["smi"] = value
            elif key == "gpu" and "," in value:
                name, memory = value.rsplit(",", 1)
                probe["name"] = name.strip()
                probe["memory_mib"] = int(memory.strip()) if memory.strip().isdigit() else None
        return probe


class TermuxPackages(FactBase):
    """Names of the packages Termux's package manager has installed (`pkg list-installed`)."""

    default = set

    def command(self) -> str:
        return "pkg list-installed 2>/dev/null || true"

    def process(self, output):
        return {line.split("/", 1)[0] for line in output if "/" in line and "installed" in line}


class FileStates(FactBase):
    """Many files in one round trip: {path: {"sha256", "mode", "user", "group"}, or None
    when the file does not exist}. A component asks once for all the files it manages,
    instead of two facts per file. GNU stat and sha256sum: for the Linux hosts only; files
    on the MacBook (macOS) go through secret_file and pyinfra's own file operations."""

    def command(self, paths: list[str]) -> str:
        quoted = " ".join(shlex.quote(path) for path in paths)
        return (f'for p in {quoted}; do if [ -f "$p" ]; then '
                'printf "%s %s " "$p" "$(stat -c "%a %U %G" "$p")"; sha256sum < "$p" | cut -d " " -f 1; '
                'else echo "$p -"; fi; done')

    def process(self, output):
        states = {}
        for line in output:
            fields = line.split()
            if len(fields) == 2 and fields[1] == "-":
                states[fields[0]] = None
            elif len(fields) == 5:
                path, mode, user, group, digest = fields
                states[path] = {"sha256": digest, "mode": mode, "user": user, "group": group}
        return states


# Profiles every Windows has besides the people's own.
WINDOWS_SYSTEM_PROFILES = ("Public", "Default", "Default User", "All Users", "WsiAccount", "WDAGUtilityAccount")


class WindowsWslConfig(FactBase):
    """The Windows user's %UserProfile%\\.wslconfig, as WSL sees it under /mnt/c/Users.

    Returns a dict: profiles (the candidate profile folders), and per profile its
    .wslconfig's text (None when there is none yet), byte for byte (CRLF kept).
    `profile_dir` given: only that folder; else every user's folder but Windows' own.
    """

    def command(self, profile_dir: str | None = None) -> str:
        if profile_dir:
            loop = f"for d in {shlex.quote(profile_dir)}; do [ -d \"$d\" ] || continue; "
        else:
            skip = "|".join(shlex.quote(name) for name in WINDOWS_SYSTEM_PROFILES)
            loop = f'for d in /mnt/c/Users/*/; do d="${{d%/}}"; case "${{d##*/}}" in {skip}) continue;; esac; '
        return (loop + 'if [ -f "$d/.wslconfig" ]; then printf "%s %s\\n" "$d" "$(base64 -w0 < "$d/.wslconfig")"; '
                'else printf "%s -\\n" "$d"; fi; done; true')

    def process(self, output):
        import base64

        profiles = {}
        for line in output:
            path, _, encoded = line.rpartition(" ")
            if path:
                profiles[path] = None if encoded == "-" else base64.b64decode(encoded).decode("utf-8", "replace")
        return profiles
