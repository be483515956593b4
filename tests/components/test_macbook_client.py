"""The MacBook's own client files (the lab points its home at .lab/build/macbook-home)."""

import stat

import pytest
import yaml

from homelab.secrets_store import SecretsStore
from tests.support import assert_converges, assert_idempotent

pytestmark = pytest.mark.lab


def test_env_file_and_cli_config(lab, inventory):
    assert_converges("clients", inventory, limit="@local", expect_changes=None)
    home = lab.state_dir / "build" / "macbook-home"
    env = home / ".config" / "homelab" / "openai.env"
    token = SecretsStore(lab.secrets_file).get("device_token.macbook").reveal()
    assert f'export OPENAI_API_KEY="{token}"' in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    config = yaml.safe_load((home / ".config" / "aichat" / "config.yaml").read_text())
    assert config["clients"][0]["api_key"] == token
    assert f". {env}" in (home / ".bashrc").read_text()
    assert_idempotent("clients", inventory, limit="@local")
