"""Rendering a project template to a string (for files made on the control machine)."""

import shlex
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from homelab.paths import TEMPLATES

# PowerShell reads U+2018..U+201B as single quotes too; inside a single-quoted string
# each is escaped by doubling it.
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def ps_literal(value: object) -> str:
    """`value` as a PowerShell single-quoted (verbatim) string: no $variables, no
    `backtick escapes, no subexpressions; only the quote characters need doubling."""
    return "'" + "".join(c * 2 if c in _PS_QUOTES else c for c in str(value)) + "'"


def to_yaml(value: Any) -> str:
    """A mapping as YAML block lines (no trailing newline): values never break out of their key."""
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n")


_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, keep_trailing_newline=True,
                   trim_blocks=True, lstrip_blocks=True)
_env.filters.update(ps_literal=ps_literal, to_yaml=to_yaml, sh=lambda value: shlex.quote(str(value)))


def render(component: str, name: str, **values: Any) -> str:
    return _env.get_template(f"{component}/{name}").render(**values)
