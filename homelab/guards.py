"""Refuse one host with a clear reason while the others carry on."""

from pyinfra import host, logger, state


def refuse(reason: str) -> None:
    """Mark the current host failed (pyinfra's summary lists it); other hosts continue."""
    logger.error(f"{host.print_prefix}refused: {reason}")
    state.fail_hosts({host})


def is_refused() -> bool:
    return host in state.failed_hosts
