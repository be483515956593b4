# pyinfra's CLI package monkey-patches the standard library for gevent when imported
# (tests load inventories through it); patch first, before ssl is imported by anything.
import pyinfra_cli  # noqa: F401  isort: skip

import os

import pytest

from homelab.lab import Lab, why_lab_cannot_run


@pytest.fixture(scope="session")
def lab():
    """The simulated lab, brought up once per session (left up if it was up before,
    or when HOMELAB_KEEP_LAB=1)."""
    reason = why_lab_cannot_run()
    if reason:
        pytest.skip(f"simulated lab unavailable here: {reason}")
    lab = Lab()
    was_up = lab.is_up()
    lab.up(log=lambda message: print(f"[lab] {message}"))
    yield lab
    if not was_up and not os.environ.get("HOMELAB_KEEP_LAB"):
        lab.down(log=lambda message: print(f"[lab] {message}"))


@pytest.fixture(scope="session")
def inventory(lab):
    return lab.inventory_file


@pytest.fixture(scope="session")
def converged_potato(lab, inventory):
    """The Le Potato lab host, fresh, after one le_potato deploy (shared by its tests)."""
    from tests.support import assert_converges

    lab.reset("potato", log=lambda m: None)
    return assert_converges("le_potato", inventory, limit="potato")


@pytest.fixture(scope="session")
def converged_pixel(lab, inventory):
    """The Termux lab phone (the owner's), fresh, after one clients deploy."""
    from tests.support import assert_converges

    lab.reset("pixel", log=lambda m: None)
    return assert_converges("clients", inventory, limit="pixel")


@pytest.fixture(scope="session")
def converged_gpu_node(lab, inventory):
    """The GPU-node lab host (WSL2 + GPU stand-ins), fresh, after one gpu_node deploy."""
    from tests.support import assert_converges

    lab.reset("gpu-node", log=lambda m: None)
    return assert_converges("gpu_node", inventory, limit="gpu-node")


def pytest_collection_modifyitems(items):
    """Tests marked `runs_last` (they tear the lab down and up again) go after all others,
    whose session fixtures assume converged hosts."""
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


@pytest.fixture(scope="session")
def gateway(lab, converged_gpu_node, tmp_path_factory):
    """Caddy + LiteLLM + the vLLM stand-in (homelab/lab/gateway.py). Caddy runs in the
    GPU-node lab host's namespace: that host is reset (if ever) before, never during."""
    from homelab.lab.gateway import CADDY, Gateway

    if not CADDY:
        pytest.skip("Caddy 2.11 is not in .venv (scripts/bootstrap.sh installs it)")
    gw = Gateway(lab, tmp_path_factory.mktemp("gateway"))
    try:
        gw.start()
        yield gw
    finally:
        gw.stop_all()
