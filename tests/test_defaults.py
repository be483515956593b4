"""One place for each default: a setting group data gives is required in homelab/settings.py
(no second default there to drift from the documented one), except where group data
overrides a schema default for one group only."""

import ast
import inspect
from pathlib import Path

from homelab import settings

GROUP_DATA = Path(__file__).resolve().parents[1] / "group_data"
# ssh_port: 22 for every SSH host (the schema's), 8022 for Termux's sshd (termux_phones.py)
GROUP_OVERRIDES = {"ssh_port"}


def group_data_keys() -> set[str]:
    keys = set()
    for path in GROUP_DATA.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
            if isinstance(target, ast.Name):
                keys.add(target.id)
    return keys


def test_no_setting_has_a_default_in_two_places():
    given = group_data_keys()
    twice = sorted({field for _, schema in inspect.getmembers(settings, inspect.isclass)
                    if schema.__module__ == settings.__name__ and hasattr(schema, "model_fields")
                    for field, info in schema.model_fields.items()
                    if field in given and not info.is_required()} - GROUP_OVERRIDES)
    assert twice == [], f"defaults both in group_data/ and homelab/settings.py: {twice}"
