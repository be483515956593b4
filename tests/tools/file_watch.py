"""Watch directories on a lab host for files that hold a secret, while a deploy runs.

    python3 file_watch.py LOG NEEDLES_FILE DIR [DIR ...]

Uses inotify (through ctypes: nothing to install on the host). Every file created,
written or moved into a watched directory tree (new subdirectories are watched as they
appear) is looked at right away: if it holds one of the needles (one secret per line in
NEEDLES_FILE), a JSON line goes to LOG with its path, its mode and owner, and whether
another user could have read it (the file and every directory up to the watched root
readable/searchable by others). Runs until killed (SIGTERM).
"""

import ctypes
import json
import os
import signal
import struct
import sys

IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE, IN_ISDIR = 0x8, 0x80, 0x100, 0x40000000
EVENT = struct.Struct("iIII")
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def readable_by_others(path: str, root: str) -> bool:
    st = os.lstat(path)
    if not st.st_mode & 0o004:
        return False
    directory = os.path.dirname(path)
    while True:
        if not os.stat(directory).st_mode & 0o001:
            return False
        if directory in (root, "/"):
            return True
        directory = os.path.dirname(directory)


def main() -> None:
    log_path, needles_path, roots = sys.argv[1], sys.argv[2], sys.argv[3:]
    needles = [line.strip().encode() for line in open(needles_path) if line.strip()]
    fd = libc.inotify_init()
    watches: dict[int, tuple[str, str]] = {}

    def watch(directory, root):
        wd = libc.inotify_add_watch(fd, directory.encode(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)
        if wd >= 0:
            watches[wd] = (directory, root)

    for root in roots:
        os.makedirs(root, exist_ok=True)
        for directory, _, _ in os.walk(root):
            watch(directory, root)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(log_path, "a", buffering=1) as log:
        log.write(json.dumps({"ready": True}) + "\n")
        while True:
            data = os.read(fd, 65536)
            offset = 0
            while offset < len(data):
                wd, mask, _, length = EVENT.unpack_from(data, offset)
                name = data[offset + EVENT.size: offset + EVENT.size + length].rstrip(b"\0").decode()
                offset += EVENT.size + length
                if wd not in watches or not name:
                    continue
                directory, root = watches[wd]
                path = os.path.join(directory, name)
                try:
                    if mask & IN_ISDIR:
                        watch(path, root)
                        continue
                    with open(path, "rb") as handle:
                        content = handle.read()
                    if any(needle in content for needle in needles):
                        st = os.lstat(path)
                        log.write(json.dumps({"path": path, "mode": oct(st.st_mode & 0o777), "uid": st.st_uid,
                                              "dir_mode": oct(os.stat(directory).st_mode & 0o777),
                                              "exposed": readable_by_others(path, root)}) + "\n")
                except OSError:
                    continue


if __name__ == "__main__":
    main()
