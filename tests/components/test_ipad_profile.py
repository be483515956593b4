"""The iPad's files, rendered on this machine (the lab's @render/ipad host)."""

import plistlib
import shutil
import stat
import subprocess

import pytest

from homelab.secrets_store import SecretsStore
from tests.support import assert_converges, assert_idempotent, assert_repairs, inventory_variant

pytestmark = pytest.mark.lab
ZBARIMG = shutil.which("zbarimg")


@pytest.fixture(scope="module")
def folder(lab, inventory):
    assert_converges("clients", inventory, limit="ipad", expect_changes=None)
    return lab.state_dir / "build" / "ipad"


def decode_qr(path) -> str:
    if not ZBARIMG:
        pytest.skip("zbarimg is not installed (apt-get install zbar-tools)")
    out = subprocess.run([ZBARIMG, "--raw", "-q", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_profile_with_a_web_clip_to_open_webui(lab, folder):
    profile = plistlib.loads((folder / "homelab.mobileconfig").read_bytes())
    assert profile["PayloadType"] == "Configuration"
    clips = [p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.webClip.managed"]
    assert clips and clips[0]["URL"] == f"http://{lab.spec('gpu-node').address}:8081/"
    assert not [p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.security.root"], "no HTTPS"


def test_qr_codes_decode_to_the_url_and_the_token(lab, folder):
    assert decode_qr(folder / "api-url-qr.png") == f"http://{lab.spec('gpu-node').address}:8080/v1"
    token_qr = folder / "SECRET-api-token-qr.png"
    assert decode_qr(token_qr) == SecretsStore(lab.secrets_file).get("device_token.ipad").reveal()
    assert stat.S_IMODE(token_qr.stat().st_mode) == 0o600
    assert "Certificate Trust Settings" not in (folder / "INSTALL.md").read_text()


def test_second_run_changes_nothing_and_a_deleted_file_returns(folder, inventory):
    assert_idempotent("clients", inventory, limit="ipad")
    (folder / "api-url-qr.png").unlink()
    assert_repairs("clients", inventory, "ipad", limit="ipad")


def test_with_https_the_profile_carries_the_root_ca_as_der(lab, folder, tmp_path):
    ca_dir = lab.state_dir / "build" / "gpu-node"
    ca_dir.mkdir(parents=True, exist_ok=True)
    key, pem = tmp_path / "ca.key", ca_dir / "gateway-root-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(pem), "-days", "3650", "-subj", "/CN=homelab test root"],
                   check=True, capture_output=True)
    variant = inventory_variant(lab, tmp_path, {"gpu-node": {"gateway_tls": True}})
    try:
        assert_converges("clients", variant, limit="ipad")
        profile = plistlib.loads((folder / "homelab.mobileconfig").read_bytes())
        roots = [p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.security.root"]
        assert len(roots) == 1
        der = subprocess.run(["openssl", "x509", "-inform", "der", "-noout", "-subject"],
                             input=roots[0]["PayloadContent"],
                             capture_output=True, check=True).stdout.decode()
        assert "homelab test root" in der
        clip = next(p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.webClip.managed")
        assert clip["URL"].startswith("https://")
        assert decode_qr(folder / "api-url-qr.png").startswith("https://")
        assert "Certificate Trust Settings" in (folder / "INSTALL.md").read_text()
    finally:
        pem.unlink()
        assert_converges("clients", lab.inventory_file, limit="ipad")
