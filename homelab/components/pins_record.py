"""The pins this deploy brought, recorded on each GPU node as its last step
(homelab.pins.RECORD): `tasks.py upgrade plan` compares group data with the server's,
`upgrade apply` deploys it again when an upgrade fails its checks, and the next k3s
install refuses a step k3s cannot take from it. Written only by a run that got this far,
so it names the last deploy that finished."""

from pyinfra.context import host

from homelab import host_state, pins
from homelab.components import deploy
from homelab.host_settings import settings_for
from homelab.host_state import Query
from homelab.operations.files import directory_in_place, file_in_place
from homelab.settings import GpuNode

host_state.reads(GpuNode, Query(files={pins.RECORD}, dirs={pins.RECORD_DIR}, contents={pins.RECORD}))


@deploy("Pins record")
def pins_record() -> None:
    state = host_state.snapshot(host)
    directory_in_place(name="homelab state directory", path=pins.RECORD_DIR, mode="755",
                       known=state.dirs[pins.RECORD_DIR])
    file_in_place(name="Pins of this deploy (tasks.py upgrade)", dest=pins.RECORD,
                  content=pins.record_text(settings_for(host, GpuNode)), known=state.file(pins.RECORD), mode="644")
