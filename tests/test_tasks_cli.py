"""tasks.py: every command has help; secrets and keys refuse and replace bad tokens."""

import shutil

import click
import pytest
import yaml
from click.testing import CliRunner

from tasks import cli
from tests.support import PROJECT_ROOT


def _commands(group, path=()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_every_command_has_help():
    runner = CliRunner()
    for path, command in _commands(cli):
        assert (command.help or "").strip(), f"{' '.join(path)} has no help text"
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, path


def test_secrets_set_refuses_a_token_the_gateway_could_not_carry(tmp_path):
    path = tmp_path / "secrets.yaml"
    result = CliRunner().invoke(cli, ["secrets", "set", "device_token.pixel", "--file", str(path)],
                                input="Wildcard" * 4 + "*\n")
    assert result.exit_code == 1
    assert "secret 'device_token.pixel'" in result.output and "letters, digits, '_' and '-'" in result.output
    assert "Wildcard" not in result.output and not path.exists()
    ok = CliRunner().invoke(cli, ["secrets", "set", "device_token.pixel", "--file", str(path)], input="A" * 32 + "\n")
    assert ok.exit_code == 0 and path.exists()


MINI_INVENTORY = """
from homelab.inventory_loading import check_inventory_file
gpu_nodes = [("gpu-node", {"lan_address": "192.168.1.50"})]
le_potato = [("potato", {"lan_address": "192.168.1.60"})]
termux_phones = [("pixel", {})]
ipads = [("@render/ipad", {})]
macbook = [("@local", {})]
check_inventory_file(__file__)
"""


def test_keys_rotate_replaces_a_token_the_inventory_check_refuses(tmp_path, monkeypatch):
    """The check before connecting names `keys rotate` as the fix: it must run."""
    from homelab.inventory_checks import InvalidInventory
    from homelab.inventory_loading import load_inventory
    from homelab.secrets_store import TOKEN, SecretsStore

    shutil.copytree(PROJECT_ROOT / "group_data", tmp_path / "group_data")
    store = tmp_path / "secrets.yaml"
    store.write_text(yaml.safe_dump({"device_token.ipad": "Quote'd" * 6}))
    store.chmod(0o600)
    with open(tmp_path / "group_data" / "all.py", "a") as handle:
        handle.write(f"\nsecrets_file = {str(store)!r}\n")
    (tmp_path / "inventory.py").write_text(MINI_INVENTORY)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInventory, match="keys rotate ipad"):
        load_inventory("inventory.py")
    shown = CliRunner().invoke(cli, ["keys", "show", "ipad"])
    assert shown.exit_code == 1 and "keys rotate ipad" in shown.output and "Quote'd" not in shown.output
    rotated = CliRunner().invoke(cli, ["keys", "rotate", "ipad"])
    assert rotated.exit_code == 0, rotated.output
    assert TOKEN.fullmatch(SecretsStore(store).get("device_token.ipad").reveal())
    load_inventory("inventory.py")  # checked again, and fine


def test_a_bad_secret_override_ends_a_task_with_the_fix_not_a_traceback(tmp_path, monkeypatch):
    shutil.copytree(PROJECT_ROOT / "group_data", tmp_path / "group_data")
    with open(tmp_path / "group_data" / "all.py", "a") as handle:
        handle.write(f"\nsecrets_file = {str(tmp_path / 'secrets.yaml')!r}\n")
    (tmp_path / "inventory.py").write_text(MINI_INVENTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOMELAB_SECRET_DEVICE_TOKEN_PIXEL", "Wild*card" * 4)
    result = CliRunner().invoke(cli, ["keys", "rotate", "pixel"])
    assert result.exit_code == 1 and "HOMELAB_SECRET_DEVICE_TOKEN_PIXEL" in result.output, result.output
    assert "unset HOMELAB_SECRET_DEVICE_TOKEN_PIXEL" in result.output and "Wild*card" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def test_secrets_commands_use_the_inventorys_store(tmp_path, monkeypatch):
    """`secrets` finds the store where group data puts it (secrets_file), like the deploys."""
    from homelab.secrets_store import SecretsStore

    shutil.copytree(PROJECT_ROOT / "group_data", tmp_path / "group_data")
    store = tmp_path / "vault" / "lab-secrets.yaml"
    with open(tmp_path / "group_data" / "all.py", "a") as handle:
        handle.write(f"\nsecrets_file = {str(store)!r}\n")
    (tmp_path / "inventory.py").write_text(MINI_INVENTORY)
    monkeypatch.chdir(tmp_path)
    stored = CliRunner().invoke(cli, ["secrets", "set", "hf_token"], input="hf_" + "x" * 34 + "\n")
    assert stored.exit_code == 0 and str(store) in stored.output, stored.output
    assert SecretsStore(store).get("hf_token").reveal() == "hf_" + "x" * 34
    assert not (tmp_path / ".secrets").exists()
    listed = CliRunner().invoke(cli, ["secrets", "list"])
    assert listed.exit_code == 0 and listed.output.split() == ["hf_token"], listed.output


def test_bad_inventory_data_ends_a_task_with_the_report(tmp_path, monkeypatch):
    shutil.copytree(PROJECT_ROOT / "group_data", tmp_path / "group_data")
    with open(tmp_path / "group_data" / "all.py", "a") as handle:
        handle.write("\ntimezone = 'not a zone!'\n")
    (tmp_path / "inventory.py").write_text(MINI_INVENTORY)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["plan"])
    assert result.exit_code == 1 and "key 'timezone'" in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
