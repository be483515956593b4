"""pyinfra orders operations by the line numbers on the call stack of each operation call
(pyinfra.api.util.get_operation_order_from_stack). It collects them with inspect.stack(),
which also reads every frame's source line: with a hundred operations that is a fifth of
a no-op run here. `install()` swaps in a walk over the same frames that yields the same
numbers without reading source (checked against pyinfra's own in tests/test_op_order.py).
pyinfra 3.10.0 still uses inspect.stack() there (src/pyinfra/api/util.py)."""

from __future__ import annotations

import importlib
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import pyinfra
from pyinfra.api.host import Host
from pyinfra.api.state import State
from pyinfra.api.util import PYINFRA_INSTALL_DIR

# the module: pyinfra.api re-exports the `operation` decorator under the same name
operation_module = importlib.import_module("pyinfra.api.operation")


def operation_order(state: State) -> list[int]:
    """What pyinfra's get_operation_order_from_stack returns, from frame objects alone."""
    frames: list[FrameType] = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()  # outermost first, as pyinfra reverses inspect.stack()
    start = 0
    if state.current_deploy_filename:  # from the deploy file's frame on (else the last frame, as pyinfra)
        start = next((i for i, f in enumerate(frames) if f.f_code.co_filename == state.current_deploy_filename),
                     len(frames) - 1)
    numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    numbers += [f.f_lineno for f in frames[start:] if not f.f_code.co_filename.startswith(PYINFRA_INSTALL_DIR)]
    return numbers


def install() -> None:
    # mypy knows the module only as a ModuleType (it is looked up at runtime, see above)
    operation_module.get_operation_order_from_stack = operation_order  # type: ignore[attr-defined]


@contextmanager
def distinct_call(host: Host, position: int, key: str) -> Iterator[None]:
    """An operation called from a loop whose items differ between hosts. pyinfra tells
    repeated calls from one line apart by a per-host counter, so when one host skips an
    item its next file shares a hash with another host's different file and the results
    of the two are reported together. `position` keeps the written order; `key` (what
    the call is about, say a path) makes the hash the same only for the same thing."""
    host.loop_position.extend([position, zlib.crc32(key.encode())])
    try:
        yield
    finally:
        del host.loop_position[-2:]
