#!/usr/bin/env python3
"""Index the keys of an upstream chart's values.yaml, for tests that check every value
key the project sets exists upstream (without shipping the whole values.yaml).

    python scripts/chart_key_index.py path/to/values.yaml > tests/fixtures/charts/<chart>-<version>.keys.json

"keys" are dotted paths of mapping keys; "open" are paths whose value is an empty
mapping or a list: anything below them is free-form.
"""

import json
import sys

import yaml


def walk(node, prefix, keys, open_paths):
    if isinstance(node, dict):
        if not node and prefix:
            open_paths.add(prefix)
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            keys.add(path)
            walk(value, path, keys, open_paths)
    elif isinstance(node, list):
        open_paths.add(prefix)


if __name__ == "__main__":
    source = sys.argv[1]
    keys, open_paths = set(), set()
    walk(yaml.safe_load(open(source)), "", keys, open_paths)
    json.dump({"source": "values.yaml of the chart named in this file's name", "keys": sorted(keys),
               "open": sorted(open_paths)}, sys.stdout, indent=0)
