"""`@render/<name>`: a device pyinfra cannot reach, whose files are made on this machine.

An iPad has no SSH. In the inventory it is `("@render/ipad-anna", {...})`; its
operations run locally (like `@local`) and write into the device's folder, which the
owner then installs on the device. Unlike `@local`, there can be many of them.
"""

from collections.abc import Iterator
from typing import Any

from pyinfra.api.exceptions import InventoryError
from pyinfra.connectors.local import LocalConnector


class RenderConnector(LocalConnector):
    @staticmethod
    def make_names_data(name: str | None = None) -> Iterator[tuple[str, dict[str, Any], list[str]]]:
        if not name:
            raise InventoryError("@render needs a device name: @render/<name>")
        yield name, {}, ["@render"]
