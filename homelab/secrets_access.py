"""The secrets store of the host being deployed (path from its data)."""

from homelab.secrets import SecretsStore
from homelab.host_settings import settings_for


def store_for(host) -> SecretsStore:
    """Deploys never write the store while planning: new secrets wait for the first upload."""
    return SecretsStore(settings_for(host).secrets_file, defer_new=True)
