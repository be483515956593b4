"""The local secrets store."""

import stat

import pytest

from homelab.secrets_store import TOKEN, BadSecret, MissingSecret, Secret, SecretsStore, env_name, persist_pending


def test_created_on_first_use_with_private_modes(tmp_path):
    store = SecretsStore(tmp_path / "private" / "secrets.yaml")
    token = store.get_or_make("device_token.pixel")
    assert len(token.reveal()) >= 40
    assert stat.S_IMODE((tmp_path / "private" / "secrets.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    assert store.get("device_token.pixel") == token  # stable once made


def test_values_never_print(tmp_path):
    secret = SecretsStore(tmp_path / "s.yaml").get_or_make("k3s_token")
    assert secret.reveal() not in f"{secret} {secret!r} {[secret]} {dict(t=secret)}"


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    store = SecretsStore(tmp_path / "s.yaml")
    store.set("vllm_api_key", "from-file")
    monkeypatch.setenv(env_name("vllm_api_key"), "from-env")
    assert store.get("vllm_api_key").reveal() == "from-env"
    assert env_name("device_token.pixel") == "HOMELAB_SECRET_DEVICE_TOKEN_PIXEL"


def test_a_secret_a_person_must_supply_says_how(tmp_path):
    for read in (SecretsStore.get, SecretsStore.get_or_make):
        with pytest.raises(MissingSecret, match=r"python tasks.py secrets set hf_token.*HOMELAB_SECRET_HF_TOKEN"):
            read(SecretsStore(tmp_path / "s.yaml"), "hf_token")


def test_reading_never_writes(tmp_path):
    """get is a read: a missing generated secret is an error, and the store stays as it was;
    only get_or_make makes one (and, deferred, keeps it in memory until a secret ships)."""
    path = tmp_path / "s.yaml"
    with pytest.raises(MissingSecret, match=r"secret 'vllm_api_key' is not set"):
        SecretsStore(path).get("vllm_api_key")
    assert not path.exists()
    deferred = SecretsStore(path, defer_new=True)
    made = deferred.get_or_make("vllm_api_key")
    assert not path.exists() and deferred.get("vllm_api_key") == made
    persist_pending()
    assert SecretsStore(path).get("vllm_api_key") == made


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
    made = store.get_or_make("y")
    assert isinstance(made, Secret) and store.get("y") == made, "made on first use, and stored"


def test_tokens_the_gateway_could_not_carry_are_refused(tmp_path, monkeypatch):
    """Device tokens reach the Caddyfile through {$VAR}: a '*' would be a wildcard, a quote
    or newline Caddyfile syntax. Refused when stored and when read, never shown."""
    store = SecretsStore(tmp_path / "s.yaml")
    for bad in ("*", "Wildcard" * 4 + "*", 'Quote"' * 6, "Short5ecret"):
        with pytest.raises(BadSecret, match=r"secret 'device_token.pixel'.*nothing was stored") as caught:
            store.set("device_token.pixel", bad)
        assert bad not in str(caught.value)
    assert store.names() == []
    monkeypatch.setenv(env_name("device_token.pixel"), "Env0verride" * 3 + "'")
    with pytest.raises(BadSecret, match=r"variable HOMELAB_SECRET_DEVICE_TOKEN_PIXEL has characters") as caught:
        store.get("device_token.pixel")
    assert "Env0verride" not in str(caught.value)


def test_generated_and_hand_set_tokens_that_fit_are_kept(tmp_path):
    store = SecretsStore(tmp_path / "s.yaml")
    assert TOKEN.fullmatch(store.get_or_make("device_token.ipad").reveal())
    assert TOKEN.fullmatch(store.get_or_make("litellm_master_key").reveal())
    store.set("device_token.pixel", "sk-" + "a1_B" * 8)
    assert store.get("device_token.pixel").reveal() == "sk-" + "a1_B" * 8
    store.set("hf_token", "hf_any:thing.not-a-gateway-token")  # not held to the gateway's token pattern
    with pytest.raises(BadSecret, match=r"secret 'hf_token'.*line breaks.*the token as one word"):
        store.set("hf_token", "hf_two words")


def test_the_ntfy_topic_and_token_must_have_their_shape(tmp_path, monkeypatch):
    """They land in Alertmanager's YAML and its webhook's header: a positive pattern each,
    refused with the name and the fix before anything is stored (or any host touched)."""
    store = SecretsStore(tmp_path / "s.yaml")
    store.set("ntfy_url", "https://ntfy.sh/homelab-7f3a9c2e")
    store.set("ntfy_url", "http://192.168.1.60:8090/lab_alerts")
    for bad in ("https://ntfy.sh/a?template=x", "https://ntfy.sh/a/b", "ftp://ntfy.sh/a", "https://ntfy.sh/",
                "https://ntfy.sh/a\nb", "https://user:pw@ntfy.sh/a", "https://ntfy.sh/a b"):
        with pytest.raises(BadSecret, match=r"secret 'ntfy_url'.*not an ntfy topic URL like https://ntfy.sh/"):
            store.set("ntfy_url", bad)
    store.set("ntfy_token", "tk_" + "a1B2" * 7 + "z")
    for bad in ("tk_short", "token", "tk_" + "a" * 29 + "\n", 'tk_aaaaaaaaaaaaaaaaaaaaaaaaaaaa"'):
        with pytest.raises(BadSecret, match=r"secret 'ntfy_token'.*an ntfy access token"):
            store.set("ntfy_token", bad)
    assert store.get("ntfy_url").reveal() == "http://192.168.1.60:8090/lab_alerts"
    monkeypatch.setenv("HOMELAB_SECRET_NTFY_URL", "https://ntfy.sh/x?y=1")
    with pytest.raises(BadSecret, match=r"environment variable HOMELAB_SECRET_NTFY_URL is not an ntfy topic URL"):
        store.find("ntfy_url")
