"""Refuse one host with a clear reason while the others carry on."""

from pyinfra import logger
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host
from pyinfra.context import ctx_host, state


def refuse(reason: str) -> None:
    """Mark the current host failed (pyinfra's summary lists it); other hosts continue."""
    # the Host itself, not the context proxy: state keeps it
    current: Host = ctx_host.get()  # type: ignore[no-untyped-call]  # unannotated in pyinfra
    logger.error(f"{current.print_prefix}refused: {reason}")
    try:
        state.fail_hosts({current})  # type: ignore[no-untyped-call]  # unannotated in pyinfra
    except PyinfraError:  # "No hosts remaining!": let the run end with its summary instead
        pass
