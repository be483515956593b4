"""`tasks.py images`: every image the stack pulls, from a render with the pinned charts,
the same list as the render of what the GPU-node deploy wrote on the lab host."""

import pytest
from click.testing import CliRunner

from homelab.stack import helm_render
from tasks import cli
from tests.support import landed_manifests

pytestmark = pytest.mark.lab


def test_images_lists_what_the_landed_stack_pulls(lab, converged_gpu_node):
    result = CliRunner().invoke(cli, ["images", "--inventory", str(lab.inventory_file)])
    assert result.exit_code == 0, result.output
    listed = result.output.split()
    landed = helm_render.render({name: objects for name, (_, objects) in landed_manifests(lab).items()})
    assert listed == helm_render.images(landed)
    assert {"vllm/vllm-openai:v0.11.1", "caddy:2.11.2-alpine", "quay.io/prometheus/prometheus:v3.14.0-distroless",
            "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1"} <= set(listed)
