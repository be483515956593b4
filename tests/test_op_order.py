"""homelab.op_order gives pyinfra the same operation order as its own stack walk."""

from types import SimpleNamespace

import pyinfra
import pytest
from pyinfra.api import operation as operation_module
from pyinfra.api import util

from homelab import op_order

DEPLOY = """
def component(state):
    for _ in range(2):
        return through_pyinfra(probe, state)

def entry(state):
    return component(state)

result = entry(state)
"""


@pytest.mark.parametrize("is_cli", [True, False])
@pytest.mark.parametrize("from_deploy", [True, False])
def test_same_numbers_as_pyinfra(tmp_path, monkeypatch, is_cli, from_deploy):
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    deploy = tmp_path / "deploy.py"
    state = SimpleNamespace(current_deploy_filename=str(deploy) if from_deploy else None, current_op_file_number=3)
    scope = {"state": state,
             "probe": lambda s: (util.get_operation_order_from_stack(s), op_order.operation_order(s))}
    # a frame in pyinfra's own code (its decorators) is left out of the order
    exec(compile("def through_pyinfra(f, s):\n    return f(s)\n", f"{util.PYINFRA_INSTALL_DIR}/api/x.py", "exec"), scope)
    exec(compile(DEPLOY, str(deploy), "exec"), scope)
    theirs, ours = scope["result"]
    assert ours == theirs
    if from_deploy:  # from the deploy file on: its three calls, then the probe's line here
        assert ours[:4 + is_cli] == [3] * is_cli + [9, 7, 4, ours[-1]] and len(ours) == 4 + is_cli


def test_installed_for_every_operation():
    import homelab.operations  # noqa: F401  (installs it)

    assert operation_module.get_operation_order_from_stack is op_order.operation_order
