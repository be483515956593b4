"""pyinfra's CLI with every remote command counted per host (for `tasks.py bench`).

    python -m homelab.bench_runner COUNTS.json <pyinfra arguments>

Counts commands run and files moved through each connector; writes them as JSON when
pyinfra exits.
"""

import atexit
import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

from pyinfra.connectors.base import BaseConnector
from pyinfra.connectors.local import LocalConnector
from pyinfra.connectors.ssh import SSHConnector

COUNTS: Counter[str] = Counter()


def _counting(method: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: BaseConnector, *args: Any, **kwargs: Any) -> Any:
        COUNTS[self.host.name] += 1
        return method(self, *args, **kwargs)

    return wrapper


def main() -> None:
    out = sys.argv[1]
    for connector in (SSHConnector, LocalConnector):
        for name in ("run_shell_command", "put_file", "get_file"):
            if name in vars(connector):
                setattr(connector, name, _counting(vars(connector)[name]))
    atexit.register(lambda: open(out, "w").write(json.dumps(COUNTS)))
    from pyinfra_cli.main import main as pyinfra_main

    sys.argv = ["pyinfra", *sys.argv[2:]]
    pyinfra_main()


if __name__ == "__main__":
    main()
