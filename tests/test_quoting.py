"""Quoting at every sink, whatever validation let through: each value that reaches a shell,
PowerShell or YAML arrives as data. Settings are built with model_construct here, which
skips validation, so these values are exactly the ones the patterns would refuse. Runs
locally (sh, ssh, tar), no lab."""

import io
import sqlite3
import subprocess
import tarfile
from types import SimpleNamespace

import yaml

from homelab import backup, host_state
from homelab.client_setup import env_file
from homelab.doctor import _disk_check, parse_sections, probe_script
from homelab.rendering import ps_literal, render
from homelab.secrets_store import Secret
from homelab.settings import GpuNode, LePotato
from homelab.ssh import ssh_command

# Each would run `touch PWNED` (in the current directory) or break the command if unquoted.
EVIL = ["it's", 'say "hi"', "$(touch PWNED)", "`touch PWNED`", "a\nb", "; touch PWNED #", "-n", "two  spaces"]


def sh(script: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60)


def tree(path) -> list[str]:
    return sorted(str(p) for p in path.rglob("*"))


def mount_of(path) -> str:
    return subprocess.run(["df", "-Pk", str(path)], capture_output=True, text=True).stdout.splitlines()[-1].split()[5]


def test_host_probe_takes_any_path_as_data(tmp_path):
    """The deploys' one probe runs even under --dry and in doctor: every path is one quoted
    word, whichever of its loops it goes through."""
    before = tree(tmp_path)
    paths = {str(tmp_path / name / "not-there-yet") for name in EVIL}
    query = host_state.Query(files=paths, dirs=paths, links=paths, contents=paths, disks=paths, users=set(EVIL),
                             units=set(EVIL), packages=set(EVIL), wsl_profiles=str(tmp_path / EVIL[2]))
    proc = sh(host_state.probe_script(query), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    state = host_state.parse(proc.stdout.splitlines())
    for path in paths - {p for p in paths if "\n" in p}:  # a newline splits the probe's line: patterns refuse it
        assert state.files[path] is None and state.dirs[path] is None and state.links[path] is None, path
        assert state.disks[path]["mount"] == mount_of(tmp_path) and state.disks[path]["size_kb"] > 0, path
    assert tree(tmp_path) == before, "the probe wrote something"


def test_doctor_probe_takes_any_path_as_data(tmp_path):
    before = tree(tmp_path)
    for name in EVIL:
        for cfg, key in ((LePotato.model_construct(apt_cache_dir=str(tmp_path / name), watcher_enabled=False,
                                                  wireguard_endpoint=None), "apt"),
                         (GpuNode.model_construct(model_cache_path=str(tmp_path / name)), "gpu")):
            sections = parse_sections(sh(probe_script(cfg), cwd=tmp_path).stdout)
            usage = host_state.parse(sections["state"].splitlines()).disks.get(str(tmp_path / name))
            check = _disk_check("dev", "disk", usage, "fix")
            if "\n" in name:  # splits the probe's line (patterns refuse it): a failed check, nothing run
                assert not check.ok and check.detail == "df did not answer", (name, key, sections)
            else:
                assert check.detail.endswith(f"free on {mount_of(tmp_path)}"), (name, key, sections)
    assert tree(tmp_path) == before, "the probe wrote something"


def test_doctor_never_lets_ssh_read_the_destination_as_an_option(tmp_path):
    pwned = tmp_path / "PWNED"
    cfg = LePotato.model_construct(ssh_hostname=f"-oProxyCommand=touch {pwned}", ssh_port=22,
                                   ssh_strict_host_key_checking="yes")
    cmd = ssh_command(cfg, "potato", "true")
    assert cmd[cmd.index("--") + 1] == cfg.ssh_hostname, cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 255 and not pwned.exists(), proc.stderr


def test_backup_archives_any_path_it_finds_as_data(tmp_path, monkeypatch):
    """Grafana's volume path comes from the server's own listing: passed to tar as data."""
    server = tmp_path / "server"
    (server / "etc").mkdir(parents=True)
    (server / "etc" / "config.yaml").write_text("token-file: x\n")
    datastore = server / "db" / "state.db"
    datastore.parent.mkdir()
    with sqlite3.connect(datastore) as db:
        db.execute("create table kine (name text)")
    grafana = server / "storage" / "pvc-1_monitoring_grafana it's \"$(touch PWNED)\""
    grafana.mkdir(parents=True)
    (grafana / "grafana.db").write_text("dashboards")
    monkeypatch.setattr(backup, "DATASTORE", str(datastore))
    monkeypatch.setattr(backup, "WORK_DIR", str(server / "backup"))
    monkeypatch.setattr(backup, "GRAFANA_GLOB", f"{server}/storage/*grafana*")
    monkeypatch.setattr(backup, "SERVER_PATHS", [str(server / "etc").lstrip("/")])
    monkeypatch.setattr(backup, "_ssh", lambda cfg, name, remote, stdin=None: subprocess.run(
        ["/bin/sh", "-c", remote], cwd=tmp_path, capture_output=True, timeout=60))
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("k3s_token: x\n")
    archive = backup.take("gpu-node", SimpleNamespace(sudo=False), secrets, tmp_path / "out", "pass",
                          log=lambda message: None)
    _, fernet, parts = backup.open_archive(archive, "pass")
    with tarfile.open(fileobj=io.BytesIO(backup.decrypt(fernet, parts["gpu-node.tar.gz.enc"], "server"))) as tar:
        names = tar.getnames()
    assert f"{grafana}/grafana.db".lstrip("/") in names and backup.SNAPSHOT_MEMBER in names, names
    assert not (tmp_path / "PWNED").exists() and list((server / "backup").iterdir()) == []


def parse_ps_verbatim(text: str) -> tuple[str, str]:
    """A PowerShell single-quoted string at the start of `text` (the language spec: any of
    ' U+2018 U+2019 U+201A U+201B is a quote; two in a row stand for one): (value, rest)."""
    quotes = "'\u2018\u2019\u201a\u201b"
    assert text[0] in quotes, text
    value, i = "", 1
    while True:
        c = text[i]
        if c in quotes:
            if i + 1 < len(text) and text[i + 1] in quotes:
                value += text[i + 1]
                i += 2
                continue
            return value, text[i + 1:]
        value += c
        i += 1


def test_powershell_literals_carry_any_value_as_data():
    for value in ["Ubuntu-22.04", "it's", "$(Restart-Computer)", "`n$env:USERNAME", "a\u2019b", "\u2018x\u201b", "a\nb",
                  "", "''"]:
        literal = ps_literal(value)
        assert parse_ps_verbatim(literal) == (value, ""), literal
    assert ps_literal("Ubuntu-22.04") == "'Ubuntu-22.04'"


def test_windows_script_assigns_the_distribution_as_a_literal():
    def script(distribution):
        return render("wsl", "windows-setup.ps1.j2", host_name="gpu-node", distribution=distribution,
                      lan_address="192.168.1.50", ssh_port=22, ports=[22, 6443], port_names=["SSH 22", "API 6443"],
                      game_mode=True, games=[], watch_seconds=10, watcher_ports=[], watchers=[],
                      watcher_port_names=[])

    assert "$Distribution = 'Ubuntu-22.04'\n" in script("Ubuntu-22.04")
    evil = "U'; Restart-Computer; '\u2019"
    line = next(line for line in script(evil).splitlines() if line.startswith("$Distribution = "))
    assert parse_ps_verbatim(line.removeprefix("$Distribution = ")) == (evil, "")


def test_marker_file_is_yaml_whatever_the_names():
    text = render("common_base", "homelab-managed.j2", site_name="homelab", host_name="gpu-node\nrole: hacked",
                  role="x: y")
    assert yaml.safe_load(text) == {"host": "gpu-node\nrole: hacked", "role": "x: y"}
    plain = render("common_base", "homelab-managed.j2", site_name="homelab", host_name="gpu-node", role="gpu_nodes")
    assert plain.endswith("\nhost: gpu-node\nrole: gpu_nodes\n")  # as before: no change on converged hosts


def test_env_file_sets_any_value_as_data(tmp_path):
    home = "/Users/o/" + "".join(EVIL)
    text = env_file("http://10.77.0.10:8080/v1", Secret("tok_EN-1"), {"AICHAT_CONFIG_DIR": home}).reveal()
    assert 'export OPENAI_API_KEY="tok_EN-1"\n' in text  # plain values are written as before
    proc = sh(f'{text}\nprintf "%s" "$AICHAT_CONFIG_DIR"', cwd=tmp_path)
    assert proc.stdout == home and tree(tmp_path) == []
