"""homelab.op_order gives pyinfra the same operation order as its own stack walk."""

import importlib
from types import SimpleNamespace

import pyinfra
import pytest
from pyinfra.api import util

from homelab import op_order

operation_module = importlib.import_module("pyinfra.api.operation")

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
    helper = "def through_pyinfra(f, s):\n    return f(s)\n"
    exec(compile(helper, f"{util.PYINFRA_INSTALL_DIR}/api/x.py", "exec"), scope)
    exec(compile(DEPLOY, str(deploy), "exec"), scope)
    theirs, ours = scope["result"]
    assert ours == theirs
    if from_deploy:  # from the deploy file on: its three calls, then the probe's line here
        assert ours[:4 + is_cli] == [3] * is_cli + [9, 7, 4, ours[-1]] and len(ours) == 4 + is_cli


def test_installed_for_every_operation():
    import homelab.operations  # noqa: F401  (installs it)

    assert operation_module.get_operation_order_from_stack is op_order.operation_order


def test_a_skipped_item_does_not_pair_different_files(monkeypatch):
    """One host skips the first file of a loop: its second file must not share the
    operation (and the reported result) with the other host's first file."""
    monkeypatch.setattr(pyinfra, "is_cli", True)
    state = SimpleNamespace(current_deploy_filename=None, current_op_file_number=0)
    hashes = {}
    files_of = {"potato": [(0, "/etc/hostname"), (1, "/etc/timezone")], "gpu-node": [(1, "/etc/timezone")]}
    for name, files in files_of.items():
        host = SimpleNamespace(loop_position=[], op_hash_order=[])
        for position, path in files:
            with op_order.distinct_call(host, position, path):
                hashes[name, path] = operation_module.solve_operation_consistency({path}, state, host)[1]
        assert host.loop_position == []
    assert hashes["potato", "/etc/timezone"] == hashes["gpu-node", "/etc/timezone"]
    assert hashes["potato", "/etc/hostname"] != hashes["gpu-node", "/etc/timezone"]
