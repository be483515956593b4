"""The Le Potato's watcher, the parts the board, the gateway and the phone share.

The watcher is Debian's Prometheus, Alertmanager and blackbox exporter on the always-on
board: when the PC is off, asleep or gaming, everything inside the cluster sleeps with
it, so whatever must notice that lives outside. What the watcher cannot see from the
LAN (the engines' Deployments, the tenants' quotas) it reads from the cluster's own
Prometheus through one narrow door in the gateway's metrics listener: GET /federate
from the watcher's address with the watcher's token, answered with the fixed set of
series below, whatever query the caller sent.
"""

from __future__ import annotations

from urllib.parse import urlencode

from homelab.settings import GpuNode

# The watcher's token: the gateway checks it (its tokens Secret), the board sends it
# (a file only Prometheus reads).
TOKEN_SECRET = "watcher_token"
TOKEN_ENV = "HOMELAB_WATCHER_TOKEN"
# Where alerts go: an ntfy topic URL and, for a protected topic, its access token.
NTFY_URL_SECRET = "ntfy_url"
NTFY_TOKEN_SECRET = "ntfy_token"

PROMETHEUS_DIR = "/etc/prometheus"
PROMETHEUS_CONFIG = f"{PROMETHEUS_DIR}/prometheus.yml"
RULES_DIR = f"{PROMETHEUS_DIR}/rules"
RULES = f"{RULES_DIR}/homelab.yml"
BLACKBOX_CONFIG = f"{PROMETHEUS_DIR}/blackbox.yml"
ALERTMANAGER_CONFIG = f"{PROMETHEUS_DIR}/alertmanager.yml"
TOKEN_FILE = f"{PROMETHEUS_DIR}/cluster-federation.token"
GATEWAY_CA = f"{PROMETHEUS_DIR}/gateway-root-ca.crt"

# The forced command of the owner's phone's key (the lab-alerts widget) and what it runs.
ACCOUNT = "homelab-alerts"
TOOL = "/usr/local/bin/homelab-alerts"
REMOTE = "/usr/local/bin/homelab-alerts-remote"
CONFIG = "/etc/homelab/alerts.json"

# The cluster series the watcher's rules need: the engines' Deployments and pods
# (kube-state-metrics) and the tenants' usage and quotas (the door in LiteLLM's pod).
FEDERATED_IN_STACK = ("kube_deployment_spec_replicas", "kube_deployment_status_replicas_available", "kube_pod_info",
                      "kube_pod_status_phase")
FEDERATED_ANYWHERE = ("homelab_tenant_tokens", "homelab_tenant_quota_tokens", "homelab_usage_store_ok")


def federation_query(cfg: GpuNode) -> str:
    """The query string the gateway sends to the cluster's Prometheus for the watcher,
    percent-encoded (no brace reaches the Caddyfile, where braces are placeholders)."""
    selectors = [f'{name}{{namespace="{cfg.stack_namespace}"}}' for name in FEDERATED_IN_STACK]
    selectors += list(FEDERATED_ANYWHERE)
    return urlencode([("match[]", s) for s in selectors])
