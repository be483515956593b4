"""The stack's one list of k3s manifest files (homelab/stack/manifests.py), and the README
that describes them."""

import re

from homelab.stack import manifests
from tests.support import PROJECT_ROOT


def test_the_readme_table_names_every_file_the_stack_can_write():
    listed = re.findall(r"^\| `(homelab-[a-z0-9-]+)\.yaml` \|", (PROJECT_ROOT / "README.md").read_text(), re.M)
    assert listed == manifests.ALL_FILES


def test_each_file_is_built_downloaded_or_the_secrets():
    for component in manifests.COMPONENTS:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", component.file), component.file
        kinds = [component.module is not None, component.download is not None, component is manifests.SECRETS]
        assert kinds.count(True) == 1, component.file
        if component.module is not None:
            assert callable(component.module.manifests), component.file
    assert len(set(manifests.ALL_FILES)) == len(manifests.ALL_FILES)
