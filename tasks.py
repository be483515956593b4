#!/usr/bin/env python3
"""Everything around the deploys: the simulated lab, secrets, and day-2 tools.

    python tasks.py --help

Each command (group) lives in its own module under homelab/cli/ (`tasks.py keys` in
homelab/cli/keys.py); this file is the entry the README names.
"""

from homelab.cli import cli

__all__ = ["cli"]  # the tests drive it as tasks.cli

if __name__ == "__main__":
    cli()
