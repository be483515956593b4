"""`tasks.py smoke` through the gateway harness (real Caddy and LiteLLM, vLLM stand-in)."""

import pytest
from click.testing import CliRunner

from tasks import cli

pytestmark = pytest.mark.lab


def test_all_steps_pass_with_timings(lab, gateway):
    result = CliRunner().invoke(cli, ["smoke", "--device", "pixel", "--inventory", str(lab.inventory_file)])
    assert result.exit_code == 0, result.output
    for step in ("list models", "completion (gpt2)", "streamed chat (mistral-7b-instruct)",
                 "text embedding (all-minilm-l6-v2)", "image embedding (clip-vit-b-32)"):
        line = next(line for line in result.output.splitlines() if line.startswith(step))
        assert " ok " in line, line
    assert "first chunk after" in result.output
    requests = gateway.upstream_requests()
    image = [r for r in requests if r["path"] == "/v1/embeddings" and r["body"].get("model") == "clip-vit-b-32"]
    # the image reached the engine as an image: chat-style, with no text input beside it
    assert image and image[-1]["body"].get("input") is None
    assert image[-1]["body"]["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_fails_with_a_revoked_device(lab, gateway):
    runner = CliRunner()
    assert runner.invoke(cli, ["keys", "revoke", "macbook", "--inventory", str(lab.inventory_file)]).exit_code == 0
    try:
        result = runner.invoke(cli, ["smoke", "--device", "macbook", "--inventory", str(lab.inventory_file)])
        assert result.exit_code == 1 and "no active token" in result.output
    finally:
        assert runner.invoke(cli, ["keys", "create", "macbook", "--inventory", str(lab.inventory_file)]).exit_code == 0
        gateway.start_caddy()
