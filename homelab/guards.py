"""Refuse one host with a clear reason while the others carry on."""

from pyinfra import logger
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import host as pyinfra_host
from pyinfra.context import state

from homelab.host_settings import real_host


def refuse(reason: str) -> None:
    """Mark the current host failed (pyinfra's summary lists it); other hosts continue."""
    current = real_host(pyinfra_host)  # the Host itself, not the context proxy: state keeps it
    logger.error(f"{current.print_prefix}refused: {reason}")
    try:
        state.fail_hosts({current})  # type: ignore[no-untyped-call]  # unannotated in pyinfra
    except PyinfraError:  # "No hosts remaining!": let the run end with its summary instead
        pass
