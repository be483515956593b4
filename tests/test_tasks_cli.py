"""tasks.py: every command has help."""

import click
from click.testing import CliRunner

from tasks import cli


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
