"""Prometheus node exporter from the distribution's package, listening on the LAN
address from group data, with the textfile collector directory in place."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from homelab.operations import ManagedFile, apt_installed, files_in_place, pinned
from homelab.rendering import render
from homelab.services import keep_running
from homelab.validation import role_of, settings_for

SERVICE = "prometheus-node-exporter"
DROP_IN = f"/etc/systemd/system/{SERVICE}.service.d"


@deploy("Node exporter")
def node_exporter():
    cfg = settings_for(host)
    apt_installed(name="Install prometheus-node-exporter", packages=[pinned(SERVICE, cfg.node_exporter_version)])
    files.directory(name="Textfile collector directory", path=cfg.node_exporter_textfile_dir, mode="755")
    files.directory(name="Unit drop-in directory", path=DROP_IN, mode="755")
    metric = ManagedFile("Textfile metric: managed by homelab", f"{cfg.node_exporter_textfile_dir}/homelab.prom",
                         render("node_exporter", "homelab.prom.j2", site_name=cfg.site_name, host_name=host.name,
                                role=role_of(host)))
    options = ManagedFile("Listen address and collectors", f"/etc/default/{SERVICE}",
                          render("node_exporter", "prometheus-node-exporter.default.j2",
                                 address=cfg.node_exporter_address, port=cfg.node_exporter_port,
                                 textfile_dir=cfg.node_exporter_textfile_dir))
    unit = ManagedFile("Start after the network, restart on failure", f"{DROP_IN}/homelab.conf",
                       render("node_exporter", "prometheus-node-exporter.service.d.conf.j2"))
    placed = files_in_place(metric, options, unit)
    keep_running(SERVICE, configs=[placed[options]], units=[placed[unit]])
