"""Where the project's own files are, wherever pyinfra is run from."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = PROJECT_ROOT / "templates"
FILES = PROJECT_ROOT / "files"


def template(component: str, name: str) -> str:
    return str(TEMPLATES / component / name)

