"""Prometheus node exporter from the distribution's package, listening on the LAN
address from group data, with the textfile collector directory in place."""

from pyinfra.context import host

from homelab import host_state
from homelab.components import deploy
from homelab.host_settings import role_of, settings_for
from homelab.host_state import Query
from homelab.operations.files import ManagedFile, directory_in_place, files_in_place
from homelab.operations.packages import apt_installed, pinned
from homelab.rendering import render
from homelab.services import keep_running
from homelab.settings import LePotato

SERVICE = "prometheus-node-exporter"
DROP_IN = f"/etc/systemd/system/{SERVICE}.service.d"


def files_of(cfg: LePotato) -> tuple[str, str, str]:
    return f"{cfg.node_exporter_textfile_dir}/homelab.prom", f"/etc/default/{SERVICE}", f"{DROP_IN}/homelab.conf"


host_state.reads(LePotato, lambda host_, cfg: Query(
    files=set(files_of(cfg)), dirs={cfg.node_exporter_textfile_dir, DROP_IN}, units={SERVICE}, packages={SERVICE}))


@deploy("Node exporter")
def node_exporter() -> None:
    cfg = settings_for(host, LePotato)
    state = host_state.snapshot(host)
    apt_installed(name="Install prometheus-node-exporter", packages=[pinned(SERVICE, cfg.node_exporter_version)],
                  installed=state.packages)
    directory_in_place(name="Textfile collector directory", path=cfg.node_exporter_textfile_dir, mode="755",
                       known=state.dirs[cfg.node_exporter_textfile_dir])
    directory_in_place(name="Unit drop-in directory", path=DROP_IN, mode="755", known=state.dirs[DROP_IN])
    metric = ManagedFile("Textfile metric: managed by homelab", f"{cfg.node_exporter_textfile_dir}/homelab.prom",
                         render("node_exporter", "homelab.prom.j2", site_name=cfg.site_name, host_name=host.name,
                                role=role_of(host)))
    options = ManagedFile("Listen address and collectors", f"/etc/default/{SERVICE}",
                          render("node_exporter", "prometheus-node-exporter.default.j2",
                                 address=cfg.node_exporter_address, port=cfg.node_exporter_port,
                                 textfile_dir=cfg.node_exporter_textfile_dir))
    unit = ManagedFile("Start after the network, restart on failure", f"{DROP_IN}/homelab.conf",
                       render("node_exporter", "prometheus-node-exporter.service.d.conf.j2"))
    placed = files_in_place(metric, options, unit, known=state.files)
    keep_running(SERVICE, state.unit(SERVICE), configs=[placed[options]], units=[placed[unit]])
