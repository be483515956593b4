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
