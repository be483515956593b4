"""Refuse one host with a clear reason while the others carry on."""

from pyinfra import logger, state
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_host


def refuse(reason: str) -> None:
    """Mark the current host failed (pyinfra's summary lists it); other hosts continue."""
    current = ctx_host.get()  # the Host itself, not the context proxy: state keeps it
    logger.error(f"{current.print_prefix}refused: {reason}")
    try:
        state.fail_hosts({current})
    except PyinfraError:  # "No hosts remaining!": let the run end with its summary instead
        pass
