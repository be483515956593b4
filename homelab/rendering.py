"""Rendering a project template to a string (for files made on the control machine)."""

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from homelab.paths import TEMPLATES

_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, keep_trailing_newline=True,
                   trim_blocks=True, lstrip_blocks=True)


def render(component: str, name: str, **values) -> str:
    return _env.get_template(f"{component}/{name}").render(**values)
