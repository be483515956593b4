"""Bad inventory data ends the run with one clear message, before any host is touched.

Each case runs the real pyinfra CLI on a copy of group_data/ with one mistake, against
hosts whose SSH address is a sentinel listener on loopback: any connection attempt at
all would be counted. The valid control case proves the sentinel does count.
"""

import os
import shutil
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from tests.support import PROJECT_ROOT, run_deploy

HOSTS = {
    "gpu-node": {"ssh_user": "owner", "lan_address": "192.168.1.50"},
    "potato": {"ssh_user": "owner", "lan_address": "192.168.1.60"},
    "pixel": {"lan_address": "192.168.1.70"},
}
INVENTORY = """
from homelab.inventory_loading import check_inventory_file
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


def run_with(tmp_path, sentinel, host_changes=None, group_lines=None, replace=None, extra="", env=None, secrets=None,
             cli_args=()):
    """Run deploys/base.py on a project copy with the given mistakes (`env`: environment
    variables for pyinfra; `secrets`: the copy's secrets store, next to its inventory,
    where run_deploy checks that no value is printed)."""
    shutil.copytree(PROJECT_ROOT / "group_data", tmp_path / "group_data")
    if secrets is not None:
        store = tmp_path / "secrets.yaml"
        store.write_text(yaml.safe_dump(secrets))
        store.chmod(0o600)
        with open(tmp_path / "group_data" / "all.py", "a") as handle:
            handle.write('\nsecrets_file = "secrets.yaml"\n')
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
    return run_deploy("base", tmp_path / "inventory.py", *cli_args, cwd=tmp_path, timeout=120, env=env)


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


def assign(key, value):
    """A line of group data that sets `key` to `value`, as Python source."""
    return f"{key} = {value!r}"


TUNNEL_ON = assign("wireguard_endpoint", "lab.example.net")

BAD_INPUTS = {
    "agent_pinned_newer_than_the_server": dict(
        extra='gpu_nodes.append(("gpu-node-2", {"ssh_hostname": "127.0.0.1", "ssh_port": 9, "ssh_user": "owner", '
              '"lan_address": "192.168.1.51", "k3s_version": "v1.35.0+k3s1"}))',
        expect=["host 'gpu-node-2', key 'k3s_version': v1.35.0+k3s1 is newer than the k3s server's (gpu-node) "
                "v1.34.2+k3s1", "pin the agent at or below the server's release"]),
    "wireguard_endpoint_that_is_not_a_host": dict(
        group_lines={"all.py": assign("wireguard_endpoint", "lab.example.net:51820")},
        expect=["key 'wireguard_endpoint': 'lab.example.net:51820' is not a host name or IP address"]),
    "wireguard_port_of_zero": dict(
        group_lines={"all.py": TUNNEL_ON + "\n" + assign("wireguard_port", 0)},
        expect=["key 'wireguard_port': 0 is not a port", "use a port number from 1 to 65535 in group_data/all.py"]),
    "wireguard_subnet_that_is_the_lan": dict(
        group_lines={"all.py": TUNNEL_ON + "\n" + assign("wireguard_subnet", "192.168.1.0/25")},
        expect=["host 'gpu-node', key 'wireguard_subnet': 192.168.1.0/25 holds gpu-node's LAN address 192.168.1.50",
                "overlaps the gateway's allowlist entry 192.168.1.0/24", "choose a tunnel subnet apart from the LAN"]),
    "wireguard_subnet_that_is_public": dict(
        group_lines={"all.py": assign("wireguard_subnet", "8.8.8.0/24")},
        expect=["key 'wireguard_subnet': '8.8.8.0/24' must be a private IPv4 network"]),
    "wireguard_lan_access_on_the_gateways_port": dict(
        group_lines={"all.py": TUNNEL_ON + "\n" + assign("wireguard_lan_access", ["192.168.1.60:8080"])},
        expect=["key 'wireguard_lan_access[0]': port 8080 is already the gateway's"]),
    "wireguard_lan_access_with_a_rule_in_it": dict(
        group_lines={"all.py": assign("wireguard_lan_access", ["192.168.1.60:22 accept; ip daddr 0.0.0.0/0"])},
        expect=["key 'wireguard_lan_access[0]'", "is not an IPv4 address and port"]),
    "wireguard_peer_with_the_boards_name": dict(
        group_lines={"all.py": TUNNEL_ON},
        extra='le_potato[0] = ("macbook", le_potato[0][1])',  # the MacBook's device name
        expect=["host '@local', key '(device name)': the tunnel peer 'macbook' has the Le Potato's name"]),
    "limit_of_zero": dict(
        host_changes={"pixel": {"api_requests_per_minute": 0}},
        expect=["host 'pixel', key 'api_requests_per_minute': 0 is not a limit",
                "use a positive whole number, or None for no limit", "the host's entry in inventory.py"]),
    "negative_quota_in_group_data": dict(
        replace={"ipads.py": ("api_tokens_per_day = 200000", "api_tokens_per_day = -5")},
        expect=["host 'ipad', key 'api_tokens_per_day': -5 is not a limit", "group_data/ipads.py"]),
    "limit_written_as_text": dict(
        host_changes={"pixel": {"api_concurrent_requests": "two"}},
        expect=["host 'pixel', key 'api_concurrent_requests'", "must be a whole number"]),
    "open_webui_limit_of_zero": dict(
        replace={"gpu_nodes.py": ("open_webui_concurrent_requests = 4", "open_webui_concurrent_requests = 0")},
        expect=["host 'gpu-node', key 'open_webui_concurrent_requests'", "group_data/gpu_nodes.py"]),
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
                "needs 24 GiB: DOES NOT FIT", "4 GiB of memory too much"]),
    "pods_that_ask_for_more_cpu_than_wsl_gets": dict(
        replace={"gpu_nodes.py": ("windows_threads = 4", "windows_threads = 12")},
        expect=["PC 16 threads - Windows 12 = 4 for WSL; pods request 7.01: DOES NOT FIT",
                "CPU requests 7.01 exceed the 4 threads WSL gets"]),
    "model_placed_on_a_node_that_is_not_a_gpu_node": dict(
        replace={"all.py": ('"weight_files": ["pytorch_model.bin"],',
                            '"weight_files": ["pytorch_model.bin"], "gpu_node": "potato",')},
        expect=["key 'models[3].gpu_node': 'potato' is not a GPU node", "use one of ['gpu-node']"]),
    "llm_d_without_its_crds_checksum": dict(
        replace={"gpu_nodes.py": ("llm_d_enabled = False", "llm_d_enabled = True")},
        expect=["key 'llm_d_crds_sha256': llm-d is switched on but its CRDs' checksum is not set"]),
    "image_without_a_pinned_tag": dict(
        replace={"gpu_nodes.py": ('litellm_image = "ghcr.io/berriai/litellm:main-v1.80.8-stable.1"',
                                  'litellm_image = "ghcr.io/berriai/litellm:latest"')},
        expect=["key 'litellm_image': 'ghcr.io/berriai/litellm:latest' is not an image with a pinned tag"]),
    "wake_on_lan_mac_written_the_windows_way": dict(
        host_changes={"gpu-node": {"wol_mac": "A8-A1-59-01-23-45"}},
        expect=["host 'gpu-node', key 'wol_mac': 'A8-A1-59-01-23-45' has the wrong form",
                "a MAC address in lowercase with colons", "the host's entry in inventory.py"]),
    "game_executable_with_a_quote": dict(
        replace={"gpu_nodes.py": ("game_executables: list[str] = []",
                                  "game_executables = [\"x'; Remove-Item C:\\\\ -Recurse; '.exe\"]")},
        expect=["key 'game_executables[0]'", "has the wrong form", "like 'eldenring.exe'", "group_data/gpu_nodes.py"]),
    "game_executable_that_is_a_path": dict(
        replace={"gpu_nodes.py": ("game_executables: list[str] = []", 'game_executables = ["C:/Games/game.exe"]')},
        expect=["key 'game_executables[0]'", "has the wrong form"]),
    "owner_device_as_a_word": dict(
        host_changes={"pixel": {"owner_device": "yes"}},
        expect=["host 'pixel', key 'owner_device': must be True or False, got str 'yes'"]),
    "sudo_as_a_word": dict(
        replace={"le_potato.py": ("_sudo = True", '_sudo = "yes"')},
        expect=["host 'potato', key '_sudo': must be True or False, got str 'yes'", "group_data/le_potato.py"]),

    # Values that would reach a root shell, apt or systemd files, YAML, the Caddyfile or an
    # elevated PowerShell, and names and tokens that would break them.
    "apt_proxy_url_with_a_newline": dict(
        group_lines={"all.py": assign("apt_proxy_url", "http://192.168.1.60:3142\nAcquire::https::Proxy DIRECT")},
        expect=["key 'apt_proxy_url': 'http://192.168.1.60:3142\\nAcquire::https::Proxy DIRECT' is not a plain "
                "http(s) URL: it contains a newline, a space", "group_data/all.py"]),
    "apt_proxy_url_with_a_quote": dict(
        group_lines={"all.py": assign("apt_proxy_url", 'http://192.168.1.60:3142";Acquire::x "y')},
        expect=["key 'apt_proxy_url'", "is not a plain http(s) URL: it contains a space, '\"', ';'"]),
    "repo_url_with_a_quote": dict(
        group_lines={"gpu_nodes.py": assign("nvidia_toolkit_repo_url", "https://nvidia.github.io/x' /")},
        expect=["host 'gpu-node', key 'nvidia_toolkit_repo_url'", "it contains a space, \"'\"",
                "group_data/gpu_nodes.py"]),
    "url_with_a_backslash": dict(
        group_lines={"gpu_nodes.py": assign("k3s_release_url", "https://github.com/k3s-io\\k3s/releases/download")},
        expect=["key 'k3s_release_url'", "is not a plain http(s) URL: it contains '\\\\'"]),
    "url_with_a_command_substitution": dict(
        group_lines={"gpu_nodes.py": assign("llm_d_crds_url", "https://github.com/$(reboot)/manifests.yaml")},
        expect=["key 'llm_d_crds_url'", "it contains '$', '(', ')'"]),
    "apt_cache_backend_with_a_second_url": dict(
        group_lines={"le_potato.py": assign("apt_cache_backends",
                                            {"debian": "http://deb.debian.org/debian/ http://x/"})},
        expect=["host 'potato', key 'apt_cache_backends.debian'", "it contains a space"]),
    "apt_cache_upstream_proxy_with_braces": dict(
        group_lines={"le_potato.py": assign("apt_cache_upstream_proxy", "http://{$PROXY}:3142")},
        expect=["key 'apt_cache_upstream_proxy'", "it contains '$', '{', '}'"]),
    "tls_san_with_a_yaml_fragment": dict(
        group_lines={"gpu_nodes.py": assign("k3s_extra_tls_san", ["lab.home.arpa\ndisable: [coredns]"])},
        expect=["host 'gpu-node', key 'k3s_extra_tls_san[0]'", "is not a host name or IP address"]),
    "wsl_distribution_that_runs_a_command": dict(
        group_lines={"gpu_nodes.py": assign("wsl_distribution", "$(reboot)")},
        expect=["key 'wsl_distribution': '$(reboot)' has the wrong form", "like 'Ubuntu-22.04'"]),
    "revision_that_is_a_branch_and_a_command": dict(
        replace={"all.py": ('"revision": "607a30d783dfa663caf39e06633721c8d4cfcd7e"', '"revision": "main; rm -rf /"')},
        expect=["key 'models[0:'gpt2'].revision': 'main; rm -rf /' has the wrong form", "40 lowercase hex digits",
                "a branch or tag would move"]),
    "revision_that_is_a_short_hash": dict(
        replace={"all.py": ('"revision": "7532d6bc89ef9300fb39d2d94ed4414ec534b72a"', '"revision": "7532d6b"')},
        expect=["key 'models[1:'mistral-7b-instruct'].revision': '7532d6b' has the wrong form"]),
    "apt_cache_dir_with_a_newline": dict(
        group_lines={"le_potato.py": assign("apt_cache_dir", "/var/cache/acng\nExecStartPre=/bin/sh -c reboot")},
        expect=["host 'potato', key 'apt_cache_dir'", "contains a newline, a space", "may hold only letters"]),
    "model_cache_path_with_a_newline": dict(
        group_lines={"gpu_nodes.py": assign("model_cache_path", "/mnt/models\n$(reboot)")},
        expect=["host 'gpu-node', key 'model_cache_path'", "contains a newline, '$', '(', ')'"]),
    "model_cache_path_that_climbs_out": dict(
        group_lines={"gpu_nodes.py": assign("model_cache_path", "/mnt/models/../../etc")},
        expect=["key 'model_cache_path': '/mnt/models/../../etc' has a '..' segment"]),
    "textfile_dir_with_a_quote": dict(
        group_lines={"le_potato.py": assign("node_exporter_textfile_dir", '/var/lib/x" --web.listen-address=:1')},
        expect=["key 'node_exporter_textfile_dir'", "contains a space, '\"'"]),
    "windows_profile_dir_with_a_command": dict(
        group_lines={"gpu_nodes.py": assign("windows_profile_dir", "/mnt/c/Users/$(reboot)")},
        expect=["key 'windows_profile_dir'", "contains '$', '(', ')'", "spaces"]),
    "host_name_with_a_semicolon": dict(
        extra='le_potato[0] = ("potato;reboot", le_potato[0][1])',
        expect=["host 'potato;reboot', key '(host name)': 'potato;reboot' is not a DNS label",
                "rename it in inventory.py"]),
    "device_name_with_a_newline": dict(
        extra='termux_phones[0] = ("pix\\nel", termux_phones[0][1])',
        expect=["host 'pix\\nel', key '(device name)': 'pix\\nel' is not a DNS label"]),
    "device_name_in_upper_case": dict(
        extra='ipads = [("@render/iPad", {})]',
        expect=["host 'iPad', key '(device name)': 'iPad' is not a DNS label"]),
    "device_names_that_share_a_token_variable": dict(
        extra='termux_phones += [("my-phone", {}), ("my_phone", {})]',
        expect=["host 'my-phone' (and 'my_phone'), key '(device name)': devices 'my-phone' and 'my_phone' share one "
                "token variable, HOMELAB_TOKEN_MY_PHONE", "rename one of them"]),
    "device_names_that_differ_in_case": dict(
        extra='ipads = [("@render/tab", {}), ("@render/TAB", {})]',
        expect=["devices 'tab' and 'TAB' share one token variable, HOMELAB_TOKEN_TAB"]),
    "ssh_hostname_that_is_an_option": dict(
        host_changes={"potato": {"ssh_hostname": "-oProxyCommand=touch /tmp/pwned"}},
        expect=["host 'potato', key 'ssh_hostname'", "a leading '-' would be read as an ssh option",
                "the host's entry in inventory.py"]),
    "ssh_user_with_a_host_in_it": dict(
        host_changes={"gpu-node": {"ssh_user": "owner@evil"}},
        expect=["host 'gpu-node', key 'ssh_user': 'owner@evil' has the wrong form", "a user name like 'owner'"]),
    "ssh_key_that_is_an_option": dict(
        host_changes={"gpu-node": {"ssh_key": "-oProxyCommand=reboot"}},
        expect=["key 'ssh_key'", "a program would read a leading '-' as an option"]),
    "client_files_dir_with_a_newline": dict(
        replace={"all.py": ('client_files_dir = "build"', 'client_files_dir = "build\\n; rm -rf ~"')},
        expect=["key 'client_files_dir'", "contains a newline", "write the path like '~/homelab/build'"]),
    "macbook_home_that_is_an_option": dict(
        replace={"macbook.py": ('client_home = "~"', 'client_home = "--help"')},
        expect=["key 'client_home'", "a program would read a leading '-' as an option"]),
    "device_token_with_a_wildcard_from_the_environment": dict(
        env={"HOMELAB_SECRET_DEVICE_TOKEN_PIXEL": "Wild3Card" * 4 + "*"},
        hidden=["Wild3Card"],
        expect=["host 'pixel', key 'device_token.pixel': the secret from the environment variable "
                "HOMELAB_SECRET_DEVICE_TOKEN_PIXEL has characters other than letters, digits, '_' and '-'",
                "fix: unset HOMELAB_SECRET_DEVICE_TOKEN_PIXEL"]),
    "hf_token_with_a_line_break_from_the_environment": dict(
        env={"HOMELAB_SECRET_HF_TOKEN": "hf_" + "Secr3t" * 6 + "\nX-Injected: 1"},
        hidden=["Secr3t"],
        expect=["host 'gpu-node', key 'hf_token'", "has spaces, line breaks or characters outside printable ASCII",
                "unset HOMELAB_SECRET_HF_TOKEN, or set it to the token as one word"]),
    "device_token_that_is_too_short": dict(
        env={"HOMELAB_SECRET_DEVICE_TOKEN_MACBOOK": "Short5ecret"},
        hidden=["Short5ecret"],
        expect=["host '@local', key 'device_token.macbook'", "is 11 characters long; a token has at least 32"]),
    "device_token_with_a_quote_in_the_store": dict(
        secrets={"device_token.ipad": "Qu0teInToken" * 3 + '"\n\trespond 200'},
        expect=["host 'ipad', key 'device_token.ipad': the secret from the secrets store secrets.yaml has characters "
                "other than", "run `python tasks.py keys rotate ipad`"]),
    "litellm_gateway_key_with_a_brace": dict(
        env={"HOMELAB_SECRET_LITELLM_GATEWAY_KEY": "Br4ceInGatewayKey" * 3 + "}"},
        hidden=["Br4ceInGatewayKey"],
        expect=["host 'gpu-node', key 'litellm_gateway_key'", "has characters other than"]),
}


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory):
    """Every case's pyinfra run, side by side: each is a separate process, with its own
    project copy and its own sentinel (one at a time, they took a minute of the suite)."""
    sentinels = {case: Sentinel() for case in BAD_INPUTS}

    def run(case):
        spec = {key: value for key, value in BAD_INPUTS[case].items() if key not in ("expect", "hidden")}
        return run_with(tmp_path_factory.mktemp(case), sentinels[case], **spec)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        runs = dict(zip(BAD_INPUTS, pool.map(run, BAD_INPUTS), strict=True))
    yield {case: (runs[case], sentinels[case]) for case in BAD_INPUTS}
    for listener in sentinels.values():
        listener.sock.close()


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_before_any_host_is_touched(bad_input_runs, case):
    expect, hidden = BAD_INPUTS[case]["expect"], BAD_INPUTS[case].get("hidden", [])
    run, sentinel = bad_input_runs[case]
    assert_refused(run, sentinel, *expect)
    for secret in hidden:  # a bad token is named, never shown
        assert secret not in run.stdout + run.stderr


def test_every_problem_is_reported_at_once(tmp_path, sentinel):
    run = run_with(tmp_path, sentinel, host_changes={"potato": {"lan_address": "nope"}, "pixel": {"ssh_port": 0}})
    assert_refused(run, sentinel, "the inventory has 2 problems", "host 'potato'", "host 'pixel'")


def test_data_overrides_are_checked_like_group_data(tmp_path, sentinel):
    """`--data key=value` on pyinfra's command line: the same check, the same report,
    pointing at the option (the inventory is built once, with the overrides in it)."""
    run = run_with(tmp_path, sentinel, cli_args=("--data", "gateway_port=eighty", "--data", "timezone=Europe/Nowhere!",
                                                 "--data", "gatway_tls=true"))
    assert_refused(run, sentinel, "key 'gateway_port': must be a whole number, got str 'eighty'",
                   "in the --data option of this command", "key 'timezone'",
                   "key 'gatway_tls': is not a setting of any device",
                   "did you mean 'gateway_tls'? fix the --data option of this command")


def test_good_data_overrides_reach_the_deploy(tmp_path, sentinel):
    run = run_with(tmp_path, sentinel, cli_args=("--data", "gateway_port=8081", "--user", "owner"))
    assert "problem" not in run.stderr and "Connecting to hosts" in run.stderr
