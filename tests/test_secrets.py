"""The local secrets store."""

import stat

import pytest

from homelab.secrets import MissingSecret, Secret, SecretsStore, env_name


def test_created_on_first_use_with_private_modes(tmp_path):
    store = SecretsStore(tmp_path / "private" / "secrets.yaml")
    token = store.get("device_token.pixel")
    assert len(token.reveal()) >= 40
    assert stat.S_IMODE((tmp_path / "private" / "secrets.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    assert store.get("device_token.pixel") == token  # stable once made


def test_values_never_print(tmp_path):
    secret = SecretsStore(tmp_path / "s.yaml").get("k3s_token")
    assert secret.reveal() not in f"{secret} {secret!r} {[secret]} {dict(t=secret)}"


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    store = SecretsStore(tmp_path / "s.yaml")
    store.set("litellm_master_key", "from-file")
    monkeypatch.setenv(env_name("litellm_master_key"), "from-env")
    assert store.get("litellm_master_key").reveal() == "from-env"
    assert env_name("device_token.pixel") == "HOMELAB_SECRET_DEVICE_TOKEN_PIXEL"


def test_a_secret_a_person_must_supply_says_how(tmp_path):
    with pytest.raises(MissingSecret, match=r"python tasks.py secrets set hf_token.*HOMELAB_SECRET_HF_TOKEN"):
        SecretsStore(tmp_path / "s.yaml").get("hf_token")


def test_loose_permissions_are_tightened(tmp_path):
    path = tmp_path / "s.yaml"
    SecretsStore(path).set("a", "b")
    path.chmod(0o644)
    assert SecretsStore(path).get("a").reveal() == "b"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_delete(tmp_path):
    store = SecretsStore(tmp_path / "s.yaml")
    store.set("x", "1")
    assert store.delete("x") and not store.delete("x") and store.names() == []
    assert isinstance(store.get("y"), Secret)
