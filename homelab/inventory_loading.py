"""Loading the inventory, and checking it once before pyinfra connects to anything.

inventory.py ends with `check_inventory_file(__file__)`. Under pyinfra's CLI that has
the check run on the inventory pyinfra has built (group data and `--data` overrides
merged) before it connects: bad data ends the run with one message per problem and no
host is touched. Tasks and tests load the inventory with
`load_inventory`, which builds it as pyinfra does and checks it the same way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pyinfra
from pyinfra.api.inventory import Inventory
from pyinfra.api.state import State, StateStage
from pyinfra.context import ctx_state

from homelab.inventory_checks import InvalidInventory, validate_inventory

_loading = False  # load_inventory is building one: it checks it itself


def check_inventory_file(inventory_file: str) -> None:
    """inventory.py's last line: have the inventory checked before pyinfra connects.

    pyinfra's CLI runs this file first and builds its Inventory from it afterwards (adding
    `--data`), then calls `state.init(inventory, ...)` and connects. The check goes into
    that one call on this run's State: the inventory is built once and checked whole."""
    if _loading or not pyinfra.is_cli or not ctx_state.isset():  # type: ignore[no-untyped-call]  # unannotated in pyinfra
        return
    state: State = ctx_state.get()  # type: ignore[no-untyped-call]  # unannotated in pyinfra
    if state.current_stage != StateStage.Setup or getattr(state, "_homelab_checked", False):
        return  # an inventory loaded while a deploy runs: checked where it is used
    name, init = Path(inventory_file).name, state.init

    def check_then_init(inventory: Inventory, *args: Any, **kwargs: Any) -> None:
        try:  # before pyinfra's own init, which stops at the first bad connector value
            validate_inventory(inventory, name)
        except InvalidInventory as exc:
            print(exc.report(), file=sys.stderr)
            raise SystemExit(2) from None
        init(inventory, *args, **kwargs)

    state.init = check_then_init  # type: ignore[method-assign]
    state._homelab_checked = True  # type: ignore[attr-defined]


def load_inventory(inventory_file: str | os.PathLike[str], cwd: str | os.PathLike[str] | None = None,
                   check: bool = True) -> Inventory:
    """pyinfra's inventory from `inventory_file`, built exactly as its CLI builds it, and
    checked (InvalidInventory) unless `check` is False."""
    from pyinfra_cli.inventory import make_inventory_from_files

    global _loading
    _loading = True
    try:
        if ctx_state.isset():  # type: ignore[no-untyped-call]  # unannotated in pyinfra
            inventory: Inventory = make_inventory_from_files(str(inventory_file), cwd=str(cwd or os.getcwd()))
        else:
            with ctx_state.use(State()):
                inventory = make_inventory_from_files(str(inventory_file), cwd=str(cwd or os.getcwd()))
    finally:
        _loading = False
    if check:
        validate_inventory(inventory, Path(inventory_file).name)
    return inventory
