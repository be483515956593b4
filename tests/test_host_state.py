"""The deploys' one probe per host (homelab.host_state), run here with /bin/sh on a
temporary tree: what it reports is what is on disk. The lab tests run it on every host."""

import grp
import hashlib
import os
import pwd
import subprocess

from homelab import host_state
from homelab.host_state import Query


def run(query: Query) -> host_state.Snapshot:
    proc = subprocess.run(["/bin/sh", "-c", host_state.probe_script(query)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return host_state.parse(proc.stdout.splitlines())


def test_files_dirs_links_and_contents_as_they_are(tmp_path):
    config = tmp_path / "a.conf"
    config.write_text("key = value\n")
    config.chmod(0o640)
    if os.getuid() == 0:  # owner and group told apart
        os.chown(config, -1, 1)
    (tmp_path / "conf.d").mkdir(mode=0o750)
    (tmp_path / "conf.d").chmod(0o750)
    (tmp_path / "link").symlink_to(config)
    missing = str(tmp_path / "missing")
    state = run(Query(files={str(config), missing, str(tmp_path / "link")}, dirs={str(tmp_path / "conf.d"), missing},
                      links={str(tmp_path / "link"), str(config)}, contents={str(config), missing},
                      disks={missing + "/deeper"}))
    me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    assert state.file(str(config)) == {"mode": "640", "user": me, "group": grp.getgrgid(os.stat(config).st_gid).gr_name,
                                       "sha256": hashlib.sha256(b"key = value\n").hexdigest()}
    # a symlink is not the managed file: replaced by a real one
    assert state.file(missing) is None and state.file(str(tmp_path / "link")) is None
    conf = os.stat(tmp_path / "conf.d")
    assert state.dirs[str(tmp_path / "conf.d")] == {"mode": "750", "user": me, "group": group,
                                                    "uid": str(conf.st_uid), "gid": str(conf.st_gid)}
    assert state.dirs[missing] is None
    assert state.links == {str(tmp_path / "link"): str(config), str(config): None}
    assert state.contents == {str(config): "key = value\n", missing: None}
    assert state.disks[missing + "/deeper"]["size_kb"] > 0


def test_profile_says_what_machine_this_is():
    profile = run(Query()).profile
    assert profile["arch"] == os.uname().machine and profile["kernel"] == os.uname().release
    assert profile["deb_arch"] == host_state.DEB_ARCH.get(os.uname().machine, os.uname().machine)
    assert profile["wsl"] == ("microsoft" in os.uname().release.lower())


def test_units_from_systemctl_show_blocks():
    output = ["unit\tId\tk3s.service", "unit\tActiveState\tactive", "unit\tUnitFileState\tenabled",
              "unit\tId\tx.timer", "unit\tActiveState\tinactive", "unit\tUnitFileState\t"]
    state = host_state.parse(output)
    assert state.unit("k3s") == {"active": "active", "enabled": "enabled"}
    assert state.unit("x.timer") == {"active": "inactive", "enabled": ""}


def test_packages_only_when_installed():
    state = host_state.parse(["package\tcurl\tinstall ok installed\t7.88",
                              "package\tgone\tdeinstall ok config-files\t1"])
    assert state.packages == {"curl": "7.88"}


def test_wsl_from_group_data_wins_over_the_kernel():
    class Cfg:
        wsl = False

    assert host_state.is_wsl(Cfg(), {"wsl": True}) is False
    assert host_state.is_wsl(object(), {"wsl": True}) is True


def test_an_artifact_has_its_recorded_sha256_only_while_its_stamp_is_the_recorded_one(tmp_path, monkeypatch):
    """The probe stats an artifact and reads the record; a file changed since (size, mtime
    or inode) gets no sha256, so it is placed again."""
    kept, replaced, missing = tmp_path / "k3s", tmp_path / "images.tar.zst", str(tmp_path / "absent")
    kept.write_bytes(b"binary")
    replaced.write_bytes(b"images")
    record = tmp_path / "artifacts.sha256"
    stamps = {path: f"{path.stat().st_size} {int(path.stat().st_mtime)} {path.stat().st_ino}"
              for path in (kept, replaced)}
    record.write_text(f"{'a' * 64} {stamps[kept]} {kept}\n{'b' * 64} {stamps[replaced]} {replaced}\n")
    replacement = tmp_path / "new"
    replacement.write_bytes(b"IMAGES")
    replacement.replace(replaced)  # same size, another inode
    monkeypatch.setattr(host_state, "ARTIFACT_RECORD", str(record))
    state = run(Query(artifacts={str(kept), str(replaced), missing}))
    assert state.artifacts[str(kept)] == {"size": "6", "mtime": stamps[kept].split()[1],
                                          "inode": str(kept.stat().st_ino), "mode": "644", "sha256": "a" * 64}
    assert "sha256" not in state.artifacts[str(replaced)] and state.artifacts[str(replaced)]["size"] == "6"
    assert state.artifacts[missing] is None


def test_each_component_reads_only_on_the_hosts_it_declares(tmp_path):
    """What the components declare with host_state.reads reaches the probe of their kind of
    host (and, with `when`, only the k3s server), and one host's query never leaks into the next."""
    import importlib
    import pkgutil

    import homelab.components
    from homelab import k3s, waker
    from homelab.components.apt_cache import EXPIRE_UNIT
    from tests.support import example_inventory

    for module in pkgutil.iter_modules(homelab.components.__path__):
        importlib.import_module(f"homelab.components.{module.name}")
    inventory = example_inventory(tmp_path)
    server, agent, potato, phone = (host_state.query_for(inventory.get_host(name))
                                    for name in ("gpu-node", "gpu-node-2", "potato", "pixel"))

    assert k3s.KUBECONFIG in server.files and k3s.KUBECONFIG in agent.files and server.gpu and agent.gpu
    # the k3s binary (70 MB) is stat-ed against its record, never read whole, online as offline
    assert k3s.BINARY in server.artifacts and k3s.BINARY not in server.files
    assert waker.TOOL in server.files and waker.TOOL not in agent.files  # when=k3s.is_server
    assert f"{EXPIRE_UNIT}.timer" in potato.units and "apt-cacher-ng" in potato.packages
    assert k3s.KUBECONFIG not in potato.files and not potato.gpu and not potato.termux_packages
    assert phone.termux_packages and not phone.units and not phone.packages
    assert "apt-cacher-ng" not in server.packages and not server.termux_packages
    again = host_state.query_for(inventory.get_host("gpu-node-2"))
    assert again == agent and again is not agent and again.files is not agent.files  # nothing carried over
