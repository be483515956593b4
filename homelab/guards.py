"""Refuse one host with a clear reason while the others carry on."""

from pyinfra import logger, state
from pyinfra.context import ctx_host


def refuse(reason: str) -> None:
    """Mark the current host failed (pyinfra's summary lists it); other hosts continue."""
    current = ctx_host.get()  # the Host itself, not the context proxy: state keeps it
    logger.error(f"{current.print_prefix}refused: {reason}")
    state.fail_hosts({current})


def is_refused() -> bool:
    return ctx_host.get() in state.failed_hosts
