"""The secrets store of the host being deployed (path from its data)."""

from homelab.secrets import SecretsStore
from homelab.validation import settings_for


def store_for(host) -> SecretsStore:
    return SecretsStore(settings_for(host).secrets_file)
