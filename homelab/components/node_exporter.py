"""Prometheus node exporter from the distribution's package, listening on the LAN
address from group data, with the textfile collector directory in place."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from homelab.operations import apt_installed, pinned
from homelab.paths import template
from homelab.services import keep_running
from homelab.validation import role_of, settings_for

SERVICE = "prometheus-node-exporter"


@deploy("Node exporter")
def node_exporter():
    cfg = settings_for(host)
    apt_installed(name="Install prometheus-node-exporter", packages=[pinned(SERVICE, cfg.node_exporter_version)])
    files.directory(name="Textfile collector directory", path=cfg.node_exporter_textfile_dir, mode="755")
    files.template(name="Textfile metric: managed by homelab", src=template("node_exporter", "homelab.prom.j2"),
                   dest=f"{cfg.node_exporter_textfile_dir}/homelab.prom", mode="644",
                   site_name=cfg.site_name, host_name=host.name, role=role_of(host))
    options = files.template(name="Listen address and collectors",
                             src=template("node_exporter", "prometheus-node-exporter.default.j2"),
                             dest=f"/etc/default/{SERVICE}", mode="644", address=cfg.node_exporter_address,
                             port=cfg.node_exporter_port, textfile_dir=cfg.node_exporter_textfile_dir)
    unit = files.template(name="Start after the network, restart on failure",
                          src=template("node_exporter", "prometheus-node-exporter.service.d.conf.j2"),
                          dest=f"/etc/systemd/system/{SERVICE}.service.d/homelab.conf", mode="644")
    keep_running(SERVICE, configs=[options], units=[unit])
