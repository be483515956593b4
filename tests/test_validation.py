"""Bad inventory data ends the run with one clear message, before any host is touched.

Each case runs the real pyinfra CLI on a copy of group_data/ with one mistake, against
hosts whose SSH address is a sentinel listener on loopback: any connection attempt at
all would be counted. The valid control case proves the sentinel does count.
"""

import shutil
import socket
import threading

import pytest

from tests.support import PROJECT_ROOT, run_deploy

HOSTS = {
    "gpu-node": {"ssh_user": "owner", "lan_address": "192.168.1.50"},
    "potato": {"ssh_user": "owner", "lan_address": "192.168.1.60"},
    "pixel": {"lan_address": "192.168.1.70"},
}
INVENTORY = """
from homelab.validation import check_inventory_file
gpu_nodes = [("gpu-node", {gpu_node})]
le_potato = [("potato", {potato})]
termux_phones = [("pixel", {pixel})]
ipads = [("@render/ipad", {{}})]
macbook = [("@local", {{}})]
{extra}
check_inventory_file(__file__)
"""


class Sentinel:
    """A TCP listener that counts connection attempts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            conn.close()


@pytest.fixture
def sentinel():
    listener = Sentinel()
    yield listener
    listener.sock.close()


def run_with(tmp_path, sentinel, host_changes=None, group_lines=None, replace=None, extra=""):
    """Run deploys/base.py on a project copy with the given mistakes."""
    shutil.copytree(PROJECT_ROOT / "group_data", tmp_path / "group_data")
    for filename, line in (group_lines or {}).items():
        with open(tmp_path / "group_data" / filename, "a") as handle:
            handle.write(f"\n{line}\n")
    for filename, (old, new) in (replace or {}).items():
        path = tmp_path / "group_data" / filename
        text = path.read_text()
        assert old in text, f"{old!r} not in {filename}"
        path.write_text(text.replace(old, new))
    hosts = {}
    for name, data in HOSTS.items():
        data = {**data, "ssh_hostname": "127.0.0.1", "ssh_port": sentinel.port, "ssh_connect_retries": 0}
        for key, value in (host_changes or {}).get(name, {}).items():
            if value is None:
                data.pop(key)
            else:
                data[key] = value
        hosts[name.replace("-", "_")] = repr(data)
    (tmp_path / "inventory.py").write_text(INVENTORY.format(extra=extra, **hosts))
    return run_deploy("base", tmp_path / "inventory.py", cwd=tmp_path, timeout=120)


def assert_refused(run, sentinel, *fragments):
    assert run.returncode == 2, run.explain()
    assert "nothing was run, no host was touched" in run.stderr
    for fragment in fragments:
        assert fragment in run.stderr, f"{fragment!r} missing from:\n{run.stderr}"
    assert "Connecting to hosts" not in run.stderr
    assert sentinel.count == 0, "a host was contacted despite invalid data"


def test_valid_data_goes_on_to_connect(tmp_path, sentinel):
    """Control: with valid data pyinfra does connect, so the sentinel would see it."""
    run = run_with(tmp_path, sentinel)
    assert "problem" not in run.stderr
    assert "Connecting to hosts" in run.stderr
    assert sentinel.count >= 1


BAD_INPUTS = {
    "typo_in_a_key": dict(
        group_lines={"all.py": 'timezon = "Europe/Berlin"'},
        expect=["host 'gpu-node' (and 'potato', 'pixel', 'ipad', '@local'), key 'timezon': is not a known setting",
                "did you mean 'timezone'",
                "group_data/all.py"]),
    "port_out_of_range": dict(
        host_changes={"pixel": {"ssh_port": 70000}},
        expect=["host 'pixel', key 'ssh_port': 70000 is not a port", "use a port number from 1 to 65535",
                "the host's entry in inventory.py"]),
    "port_written_as_string": dict(
        host_changes={"gpu-node": {"ssh_port": "22"}},
        expect=["key 'ssh_port': must be a whole number, got str '22'", "write it as 8080"]),
    "missing_required_address": dict(
        host_changes={"gpu-node": {"lan_address": None}},
        expect=["host 'gpu-node', key 'lan_address': is required but not set",
                "fix: set it in the host's entry in inventory.py"]),
    "address_that_is_not_an_address": dict(
        host_changes={"potato": {"lan_address": "192.168.1.300"}},
        expect=["host 'potato', key 'lan_address': '192.168.1.300' is not an IP address"]),
    "model_not_in_catalogue": dict(
        replace={"termux_phones.py": ('default_model = "mistral-7b-instruct"', 'default_model = "llama-3"')},
        expect=["host 'pixel', key 'default_model': 'llama-3' is not in the model catalogue",
                "add the model to `models` in group_data/all.py"]),
    "default_model_that_cannot_chat": dict(
        replace={"ipads.py": ('default_model = "mistral-7b-instruct"', 'default_model = "all-minilm-l6-v2"')},
        expect=["host 'ipad', key 'default_model': 'all-minilm-l6-v2' is an embedding model, it cannot chat",
                "use one of ['gpt2', 'mistral-7b-instruct']"]),
    "proxy_url_without_scheme": dict(
        replace={"all.py": ("apt_proxy_url = None", 'apt_proxy_url = "potato:3142"')},
        expect=["key 'apt_proxy_url': 'potato:3142' is not an http(s) URL", "group_data/all.py"]),
    "catalogue_entry_of_unknown_kind": dict(
        replace={"all.py": ('"kind": "embedding",\n        "inputs": ["text", "image"]',
                            '"kind": "vision",\n        "inputs": ["text", "image"]')},
        expect=["key 'models[3:'clip-vit-b-32'].kind': 'vision' is not allowed",
                "use one of 'completion', 'chat' or 'embedding'"]),
    "duplicate_address": dict(
        host_changes={"potato": {"lan_address": "192.168.1.50"}},
        expect=["host 'potato', key 'lan_address': 192.168.1.50 is also the address of 'gpu-node'"]),
    "host_in_no_device_group": dict(
        extra='printers = [("printer", {"lan_address": "192.168.1.90"})]',
        expect=["host 'printer', key '(groups)': is in no device group"]),
    "host_keys_not_verified": dict(
        host_changes={"potato": {"ssh_strict_host_key_checking": "no"}},
        expect=["key 'ssh_strict_host_key_checking': 'no' is not allowed", "'yes' or 'accept-new'"]),
    "timezone_with_a_space": dict(
        replace={"all.py": ('timezone = "Europe/Berlin"', 'timezone = "Europe Berlin"')},
        expect=["key 'timezone': 'Europe Berlin' is not a timezone name"]),
    "empty_catalogue": dict(
        group_lines={"all.py": "models = []"},
        expect=["key 'models': must not be empty"]),
    "catalogue_that_does_not_fit_the_gpu": dict(
        replace={"all.py": ('"max_num_seqs": 2,', '"max_num_seqs": 6,')},
        expect=["host 'gpu-node', key 'models': the models placed on this GPU do not fit it:", "DOES NOT FIT",
                "Lower max_model_len or max_num_seqs", "mistral-7b-instruct: 6.00 GiB"]),
    "stack_that_does_not_fit_the_pcs_ram_next_to_windows": dict(
        replace={"gpu_nodes.py": ("windows_memory_gib = 6", "windows_memory_gib = 12")},
        expect=["host 'gpu-node', key 'pc_memory_gib': the stack does not fit the PC's RAM and CPU next to Windows:",
                "vllm-mistral-7b-instruct-deployment-vllm", "PC 32 GiB - Windows 12 GiB = 20 GiB for WSL; the stack "
                "needs 25 GiB: DOES NOT FIT", "5 GiB of memory too much"]),
    "pods_that_ask_for_more_cpu_than_wsl_gets": dict(
        replace={"gpu_nodes.py": ("windows_threads = 4", "windows_threads = 12")},
        expect=["PC 16 threads - Windows 12 = 4 for WSL; pods request 6.91: DOES NOT FIT",
                "CPU requests 6.91 exceed the 4 threads WSL gets"]),
    "model_placed_on_a_node_that_is_not_a_gpu_node": dict(
        replace={"all.py": ('"weight_files": ["pytorch_model.bin"],', '"weight_files": ["pytorch_model.bin"], "gpu_node": "potato",')},
        expect=["key 'models[3].gpu_node': 'potato' is not a GPU node", "use one of ['gpu-node']"]),
    "llm_d_without_its_crds_checksum": dict(
        replace={"gpu_nodes.py": ("llm_d_enabled = False", "llm_d_enabled = True")},
        expect=["key 'llm_d_crds_sha256': llm-d is switched on but its CRDs' checksum is not set"]),
    "image_without_a_pinned_tag": dict(
        replace={"gpu_nodes.py": ('litellm_image = "ghcr.io/berriai/litellm:main-v1.80.8-stable.1"',
                                  'litellm_image = "ghcr.io/berriai/litellm:latest"')},
        expect=["key 'litellm_image': 'ghcr.io/berriai/litellm:latest' is not an image with a pinned tag"]),
    "sudo_as_a_word": dict(
        replace={"le_potato.py": ("_sudo = True", '_sudo = "yes"')},
        expect=["host 'potato', key '_sudo': must be True or False, got str 'yes'", "group_data/le_potato.py"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_before_any_host_is_touched(tmp_path, sentinel, case):
    spec = dict(BAD_INPUTS[case])
    expect = spec.pop("expect")
    run = run_with(tmp_path, sentinel, **spec)
    assert_refused(run, sentinel, *expect)


def test_every_problem_is_reported_at_once(tmp_path, sentinel):
    run = run_with(tmp_path, sentinel, host_changes={"potato": {"lan_address": "nope"}, "pixel": {"ssh_port": 0}})
    assert_refused(run, sentinel, "the inventory has 2 problems", "host 'potato'", "host 'pixel'")
