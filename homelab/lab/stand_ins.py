"""Stand-ins for what cannot run here: NVIDIA's and k3s's download servers, k3s itself,
and the GPU. Each is named as a stand-in wherever it shows up.

- A mirror on this machine (http://10.77.0.1:8473) serving
  - a signed apt repository with stand-in packages of the NVIDIA Container Toolkit at
    the version pinned in group data (empty packages that install a STAND-IN note);
  - a stand-in `k3s` at the pinned version's path: a small program that, as `k3s
    server`, writes the kubeconfig k3s would write, tells systemd it is ready and waits.
  The lab inventory points the GPU node's download URLs and sha256 pins at these; the
  real pins are checked separately from pyinfra's plan.
- On the GPU-node lab hosts: /dev/dxg (bound to /dev/null) and an nvidia-smi at
  /usr/lib/wsl/lib/nvidia-smi that reports an RTX 4070 Ti with 12 GB, as WSL2 would;
  and a stand-in for the Windows drive WSL mounts at /mnt/c: the owner's profile folder
  with a .wslconfig of the owner's own (CRLF, keys the deploy does not manage), next to
  Windows' Public and Default profiles.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from homelab.lab.network import HOST_SIDE
from homelab.lab.system import run, spawn, wait_for_port

if TYPE_CHECKING:
    from pyinfra.api.inventory import Inventory

MIRROR_PORT = 8473
NVIDIA_PACKAGES = {
    "nvidia-container-toolkit": ["nvidia-container-toolkit-base", "libnvidia-container-tools"],
    "nvidia-container-toolkit-base": [],
    "libnvidia-container-tools": ["libnvidia-container1"],
    "libnvidia-container1": [],
}

NVIDIA_SMI = r"""#!/usr/bin/python3
# homelab lab STAND-IN for WSL2's nvidia-smi (no GPU in the lab): answers the queries
# the deploy and homelab-gpu make, as an RTX 4070 Ti with 12 GB would. Memory in use:
# the desktop's, plus the planned share of every engine the stand-in cluster runs or is
# still stopping (/var/lib/homelab-lab/kubectl/cluster.json).
import json, os, sys, time
args = " ".join(sys.argv[1:])
used = 310
try:
    for entry in json.load(open("/var/lib/homelab-lab/kubectl/cluster.json"))["deployments"].values():
        if entry["replicas"] or time.time() < entry.get("stopped", 0) + entry.get("stop_seconds", 0):
            used += entry.get("vram_mib", 0)
except (OSError, ValueError, KeyError):
    pass
if "--query-gpu=index,name,memory.used,memory.total,utilization.gpu,temperature.gpu,power.draw" in args:
    busy = used > 310
    print(f"0, NVIDIA GeForce RTX 4070 Ti, {used}, 12282, {37 if busy else 0}, {58 if busy else 41}, "
          f"{'112.40' if busy else '[N/A]'}")
elif "--query-gpu=name,memory.total" in args:
    print("NVIDIA GeForce RTX 4070 Ti, 12282")
elif "--query-gpu=memory.used" in args:
    print(used)
else:
    print(f"homelab lab stand-in for nvidia-smi: NVIDIA GeForce RTX 4070 Ti, {used} / 12282 MiB")
"""

K3S = r'''#!/usr/bin/python3
"""homelab lab STAND-IN for k3s: there is no Kubernetes in the lab. As `k3s server` it
writes the kubeconfig k3s would write (mode from config.yaml), tells systemd it is
ready and waits; as `k3s agent` it only waits; `--version` names the release it stands
in for. Anything else prints this note."""
import os
import socket
import sys
import time

VERSION = "@STAND_IN_VERSION@"

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: default
  cluster:
    certificate-authority-data: U1RBTkQtSU4gQ0E=
    server: https://127.0.0.1:{port}
users:
- name: default
  user:
    client-certificate-data: U1RBTkQtSU4gQ0VSVA==
    client-key-data: U1RBTkQtSU4gS0VZ
contexts:
- name: default
  context:
    cluster: default
    user: default
current-context: default
"""


def setting(name, default):
    try:
        for line in open("/etc/rancher/k3s/config.yaml"):
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip().strip("'\"")
    except OSError:
        pass
    return default


def notify_ready():
    address = os.environ.get("NOTIFY_SOCKET")
    if address:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.connect("\0" + address[1:] if address.startswith("@") else address)
        sock.sendall(b"READY=1")


role = sys.argv[1] if len(sys.argv) > 1 else ""
if role in ("--version", "-v", "version"):
    print(f"k3s version {VERSION} (homelab lab stand-in)")
    print("go version (none: homelab lab stand-in)")
    sys.exit(0)
if role == "server":
    # a datastore where k3s keeps its own (SQLite, as a single k3s server does)
    import sqlite3
    os.makedirs("/var/lib/rancher/k3s/server/db", exist_ok=True)
    db = sqlite3.connect("/var/lib/rancher/k3s/server/db/state.db")
    db.execute("CREATE TABLE IF NOT EXISTS kine (name TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT OR IGNORE INTO kine VALUES ('/registry/homelab-lab', 'stand-in datastore')")
    db.commit()
    db.close()
    path = "/etc/rancher/k3s/k3s.yaml"
    with open(path, "w") as handle:
        handle.write(KUBECONFIG.format(port=setting("https-listen-port", "6443")))
    os.chmod(path, int(setting("write-kubeconfig-mode", "0600"), 8))
if role in ("server", "agent"):
    notify_ready()
    while True:
        time.sleep(3600)
if role == "kubectl":
    # STAND-IN answers of the Kubernetes API. `get <kind> -o json`: what a test put in
    # the lab's kubectl directory. Deployments live in its cluster.json (seeded by a test
    # from the rendered manifests): `scale` sets replicas; an engine answers (is ready)
    # start_seconds after it may start, which is after the engine it waits for (its init
    # container's chain, "after"); a scaled-down engine's pod terminates for stop_seconds,
    # holding its GPU memory meanwhile (see the stand-in nvidia-smi).
    import json as _json
    args, namespace = [], "default"
    rest = sys.argv[2:]
    while rest:
        arg = rest.pop(0)
        if arg in ("-n", "--namespace"):
            namespace = rest.pop(0)
        else:
            args.append(arg)
    state_dir = "/var/lib/homelab-lab/kubectl"
    cluster_file = os.path.join(state_dir, "cluster.json")
    cluster = _json.load(open(cluster_file)) if os.path.exists(cluster_file) else {"deployments": {}}
    deployments = cluster["deployments"]
    now = time.time()

    def ready_at(key):
        entry = deployments[key]
        if not entry["replicas"]:
            return None
        start = entry.get("since", 0)
        if entry.get("after") in deployments:
            previous = ready_at(entry["after"])
            start = max(start, previous if previous is not None else start + entry.get("wait_seconds", 600))
        return start + entry.get("start_seconds", 0)

    def pods(key):
        entry = deployments[key]
        return 1 if entry["replicas"] or now < entry.get("stopped", 0) + entry.get("stop_seconds", 0) else 0

    if args[:2] in (["scale", "deployment"], ["scale", "deploy"]) and len(args) >= 4:
        key = namespace + "/" + args[2]
        if key not in deployments:
            sys.exit('Error from server (NotFound): deployments.apps "' + args[2] + '" not found')
        replicas = int(args[3].split("=", 1)[1])
        entry = deployments[key]
        if replicas and not entry["replicas"]:
            entry["since"] = now
        if not replicas and entry["replicas"]:
            entry["stopped"] = now
        entry["replicas"] = replicas
        with open(cluster_file + ".new", "w") as handle:
            _json.dump(cluster, handle)
        os.replace(cluster_file + ".new", cluster_file)
        print("deployment.apps/" + args[2] + " scaled")
        sys.exit(0)
    if args[:2] in (["get", "deployments"], ["get", "deployment"]) and (len(args) == 2 or args[2].startswith("-")):
        items = []
        for key in deployments:
            if key.startswith(namespace + "/"):
                at = ready_at(key)
                ready = deployments[key]["replicas"] if at is not None and now >= at else 0
                items.append({"metadata": {"name": key.split("/", 1)[1], "namespace": namespace},
                              "spec": {"replicas": deployments[key]["replicas"]}, "status": {"readyReplicas": ready}})
        print(_json.dumps({"items": items}))
        sys.exit(0)
    if args[:2] in (["get", "deployment"], ["get", "deploy"]) and len(args) >= 3:
        key = namespace + "/" + args[2]
        if key not in deployments:
            sys.exit('Error from server (NotFound): deployments.apps "' + args[2] + '" not found')
        at = ready_at(key)
        ready = deployments[key]["replicas"] if at is not None and now >= at else 0
        print(_json.dumps({"metadata": {"name": args[2], "namespace": namespace},
                           "spec": {"replicas": deployments[key]["replicas"]}, "status": {"readyReplicas": ready}}))
        sys.exit(0)
    if args[:2] == ["get", "pods"] and "-l" in args:
        wanted = dict(pair.split("=", 1) for pair in args[args.index("-l") + 1].split(","))
        items = [{"metadata": {"name": key.split("/", 1)[1] + "-pod", "namespace": namespace}}
                 for key, entry in deployments.items() if key.startswith(namespace + "/")
                 and wanted.items() <= entry.get("labels", {}).items() and pods(key)]
        print(_json.dumps({"items": items}))
        sys.exit(0)
    if args[:1] == ["delete"]:
        # what the deploy asks when a component is switched off: nothing to delete here
        print("homelab lab stand-in for k3s: nothing to delete (no Kubernetes here)")
        sys.exit(0)
    if args[:1] == ["get"] and len(args) > 1 and os.path.exists(os.path.join(state_dir, "get-" + args[1] + ".json")):
        sys.stdout.write(open(os.path.join(state_dir, "get-" + args[1] + ".json")).read())
        sys.exit(0)
    print("The connection to the server 127.0.0.1:6443 was refused (homelab lab stand-in for k3s)")
    sys.exit(1)
print("homelab lab stand-in for k3s (no Kubernetes here)")
'''


TERMUX_PKG = r"""#!/bin/sh
# homelab lab STAND-IN for Termux's pkg (no Termux here): `pkg install` records the
# package under $PREFIX/var/lib/homelab-lab-pkg and, for the few whose programs the lab's
# Debian has, links them into $PREFIX/bin; `pkg list-installed` prints apt's format.
db="$PREFIX/var/lib/homelab-lab-pkg"
mkdir -p "$db"
case "$1" in
  install)
    shift
    for package in "$@"; do
      case "$package" in -*) continue ;; esac
      echo "$package" > "$db/$package"
      case "$package" in
        python) ln -sf /usr/bin/python3 "$PREFIX/bin/python3"; ln -sf /usr/bin/python3 "$PREFIX/bin/python" ;;
        curl) ln -sf /usr/bin/curl "$PREFIX/bin/curl" ;;
      esac
      echo "stand-in: installed $package"
    done ;;
  list-installed)
    echo "Listing..."
    for entry in "$db"/*; do
      [ -e "$entry" ] && echo "$(basename "$entry")/stable,now 0-homelab-lab all [installed]"
    done ;;
  *) echo "homelab lab stand-in for pkg: only install and list-installed" >&2; exit 1 ;;
esac
"""


def write_termux_stand_ins(root: Path, prefix: str) -> None:
    """Termux's pkg (stand-in) and the bash every Termux has at $PREFIX/bin/bash."""
    bin_dir = root / prefix.lstrip("/") / "bin"
    (bin_dir / "pkg").write_text(TERMUX_PKG)
    (bin_dir / "pkg").chmod(0o755)
    bash = bin_dir / "bash"
    if not bash.is_symlink():
        bash.symlink_to("/bin/bash")


def mirror_url() -> str:
    return f"http://{HOST_SIDE}:{MIRROR_PORT}"


def write_gpu_stand_ins(root: Path) -> None:
    """nvidia-smi where WSL2 mounts the Windows driver's tools (/dev/dxg is bound at boot)."""
    smi = root / "usr/lib/wsl/lib/nvidia-smi"
    smi.parent.mkdir(parents=True, exist_ok=True)
    smi.write_text(NVIDIA_SMI)
    smi.chmod(0o755)
    write_windows_drive_stand_in(root)


# The owner's .wslconfig before the first deploy: their own keys, Windows line endings.
OWNER_WSLCONFIG = ("# my settings\r\n[wsl2]\r\nguiApplications=false\r\nmemory = 8GB\r\n\r\n"
                   "[experimental]\r\nsparseVhd=true\r\n")


def write_windows_drive_stand_in(root: Path) -> None:
    users = root / "mnt/c/Users"
    for name in ("Public", "Default"):
        (users / name).mkdir(parents=True, exist_ok=True)
    owner = users / "owner"
    owner.mkdir(parents=True, exist_ok=True)
    (owner / ".wslconfig").write_bytes(OWNER_WSLCONFIG.encode())


def nspawn_gpu_args() -> list[str]:
    return ["--bind-ro=/dev/null:/dev/dxg"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_deb(work: Path, name: str, version: str, depends: list[str]) -> Path:
    tree = work / f"{name}_{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    doc = tree / "usr/share/doc" / name
    doc.mkdir(parents=True)
    (doc / "STAND-IN").write_text(f"homelab lab stand-in for NVIDIA's {name} {version}; it contains nothing else.\n")
    fields = [f"Package: {name}", f"Version: {version}", "Architecture: amd64",
              "Maintainer: homelab lab <lab@localhost>", "Section: utils", "Priority: optional"]
    if depends:
        fields.append("Depends: " + ", ".join(f"{dep} (= {version})" for dep in depends))
    fields.append(f"Description: homelab lab stand-in for {name}")
    (tree / "DEBIAN/control").write_text("\n".join(fields) + "\n")
    deb = work / f"{name}_{version}_amd64.deb"
    run("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, deb)
    return deb


def _apt_repository(repo: Path, debs: list[Path], gnupg: Path) -> None:
    """A flat, signed apt repository at repo/ (what `deb URL/amd64 /` reads)."""
    repo.mkdir(parents=True, exist_ok=True)
    stanzas = []
    for deb in debs:
        shutil.copy(deb, repo / deb.name)
        control = run("dpkg-deb", "--field", deb).stdout.strip()
        stanzas.append(f"{control}\nFilename: ./{deb.name}\nSize: {deb.stat().st_size}\nSHA256: {_sha256(deb)}\n")
    packages = repo / "Packages"
    packages.write_text("\n".join(stanzas))
    release = (f"Origin: homelab-lab\nLabel: homelab lab stand-in for NVIDIA's repository\nArchitectures: amd64\n"
               f"Date: {email.utils.formatdate(usegmt=True)}\nSHA256:\n"
               f" {_sha256(packages)} {packages.stat().st_size} Packages\n")
    (repo / "Release").write_text(release)
    env = {**os.environ, "GNUPGHOME": str(gnupg)}
    subprocess.run(["gpg", "--batch", "--yes", "--clearsign", "-o", str(repo / "InRelease"), str(repo / "Release")],
                   check=True, env=env, capture_output=True)


# The k3s release before the pinned one (k3s-io/k3s #13246 "update channels to 1.33.6",
# released with v1.34.2): the mirror serves a stand-in of it too, for the upgrade tests.
EARLIER_K3S_VERSION = "v1.33.6+k3s1"


def stand_in_k3s(version: str) -> str:
    """The stand-in k3s program for `version`: each release its own file, its own sha256."""
    return K3S.replace("@STAND_IN_VERSION@", version)


def stand_in_k3s_sha256(version: str) -> str:
    return hashlib.sha256(stand_in_k3s(version).encode()).hexdigest()


def build_mirror(directory: Path, nvidia_version: str, k3s_version: str) -> dict[str, Any]:
    """Fill `directory` with the stand-ins (once per pinned versions); returns the lab
    inventory's overrides."""
    recipe = directory / "overrides.json"
    wanted = {"nvidia": nvidia_version, "k3s": k3s_version, "k3s earlier": EARLIER_K3S_VERSION,
              "stand-ins": hashlib.sha256((K3S + json.dumps(NVIDIA_PACKAGES)).encode()).hexdigest()}
    if recipe.exists():
        built = json.loads(recipe.read_text())
        if built["versions"] == wanted:
            return cast("dict[str, Any]", built["overrides"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    gnupg = directory.parent / "mirror-gnupg"
    if not (gnupg / "pubring.kbx").exists():
        gnupg.mkdir(mode=0o700, parents=True, exist_ok=True)
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "homelab lab stand-in repository",
                        "ed25519", "sign", "never"], check=True, env={**os.environ, "GNUPGHOME": str(gnupg)},
                       capture_output=True)
    key = directory / "nvidia" / "gpgkey"
    key.parent.mkdir(parents=True)
    key.write_bytes(subprocess.run(["gpg", "--armor", "--export"], check=True, capture_output=True,
                                   env={**os.environ, "GNUPGHOME": str(gnupg)}).stdout)
    with tempfile.TemporaryDirectory() as work:
        debs = [_build_deb(Path(work), name, nvidia_version, deps) for name, deps in NVIDIA_PACKAGES.items()]
        _apt_repository(directory / "nvidia/stable/deb/amd64", debs, gnupg)
    for version in {k3s_version, EARLIER_K3S_VERSION}:
        program = directory / "k3s" / version / "k3s"
        program.parent.mkdir(parents=True)
        program.write_text(stand_in_k3s(version))
        program.chmod(0o755)
    k3s = directory / "k3s" / k3s_version / "k3s"
    overrides = {
        "nvidia_toolkit_repo_url": f"{mirror_url()}/nvidia/stable/deb",
        "nvidia_toolkit_key_url": f"{mirror_url()}/nvidia/gpgkey",
        "nvidia_toolkit_key_sha256": _sha256(key),
        "k3s_release_url": f"{mirror_url()}/k3s",
        "k3s_sha256": {"amd64": _sha256(k3s), "arm64": _sha256(k3s)},
    }
    recipe.write_text(json.dumps({"versions": wanted, "overrides": overrides}))
    return overrides


def serve_mirror(directory: Path, log_file: Path) -> dict[str, Any]:
    record = spawn(["python3", "-m", "http.server", str(MIRROR_PORT), "--bind", HOST_SIDE,
                    "--directory", str(directory)], log_file)
    wait_for_port(HOST_SIDE, MIRROR_PORT, f"the lab's stand-in mirror (log: {log_file})")
    return record


def engine_deployments(inventory: Inventory) -> dict[str, dict[str, Any]]:
    """The vLLM engines k3s would run for `inventory` (the vLLM release rendered with Helm),
    in their start order: deployment -> the GPU memory each is planned to hold (MiB), its
    pod labels, and the engine its init container waits for. What the stand-in cluster is
    seeded with, since there is no Kubernetes here."""
    from homelab import k3s
    from homelab.components.ai_stack import stack_context
    from homelab.stack import helm_render, manifests, vllm

    ctx = stack_context(k3s.server_host(inventory), inventory)
    rendered = {item.name: item.obj for item in helm_render.render({manifests.VLLM.file: vllm.manifests(ctx)})
                if item.kind == "Deployment" and item.name.endswith("-deployment-vllm")}
    engines = {}
    for node in ctx.nodes:
        for model in ctx.models_on(node):
            name = vllm.engine_deployment(model)
            previous = vllm.previous_on_node(ctx, model)
            engines[name] = {"vram_mib": int(ctx.share(model).utilization * ctx.nodes[node].gpu_vram_gib * 1024),
                             "labels": rendered[name]["spec"]["template"]["metadata"]["labels"],
                             "after": vllm.engine_deployment(previous) if previous else None,
                             "wait_seconds": ctx.nodes[node].engine_start_wait_seconds}
    return engines


def stand_in_cluster(engines: dict[str, dict[str, Any]], namespace: str, start_seconds: float,
                     stop_seconds: float) -> dict[str, dict[str, Any]]:
    """Lab.seed_stand_in_cluster's Deployments for `engines` (engine_deployments): each
    running, answering start_seconds after it may start, stopping in stop_seconds."""
    return {f"{namespace}/{name}": {"replicas": 1, "start_seconds": start_seconds, "stop_seconds": stop_seconds,
                                    "vram_mib": engine["vram_mib"], "labels": engine["labels"],
                                    "wait_seconds": engine["wait_seconds"],
                                    "after": f"{namespace}/{engine['after']}" if engine["after"] else None}
            for name, engine in engines.items()}
