"""kube-prometheus-stack: Prometheus scraping vLLM's engines and router (their
ServiceMonitors, picked up without the release label), LiteLLM, the gateway's Caddy and
the Le Potato's node exporter (static targets), the GPU nodes' own node exporter, Grafana
with Node Exporter Full and vLLM's dashboards. Everything but the node exporter runs on
the k3s server, with requests and limits from the RAM and CPU plan.

Switched off because a single k3s node has nothing for them: Alertmanager, the
admission webhooks (and their certificate Jobs), and the scrapes of control-plane
components k3s runs inside its own process."""

from __future__ import annotations

import json
from typing import Any

from homelab import gpu_mode
from homelab.stack import litellm, security
from homelab.stack.cluster_secrets import GRAFANA_ADMIN, LITELLM_METRICS_KEY
from homelab.stack.common import MANAGED, PodPlan, Resources, StackContext, helm_chart

RELEASE = "kube-prometheus-stack"
# kube-prometheus-stack 88.5.3's own prometheus-node-exporter.extraArgs (values.yaml):
# setting the list replaces them, so they are repeated here.
NODE_EXPORTER_CHART_ARGS = [
    "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run/containerd/.+|var/lib/docker/.+|var/lib/kubelet/.+)($|/)",
    "--collector.filesystem.fs-types-exclude=^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl"
    "|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs"
    "|erofs)$",
]
TEXTFILE_MOUNT = "/host/homelab-gpu-mode"
# The chart's node exporter listens on the node's network at its service port (values.yaml
# prometheus-node-exporter.service.port, hostNetwork: true); the Le Potato's watcher scrapes it there.
NODE_EXPORTER_PORT = 9100
# kube-prometheus-stack 88.5.3's defaultRules.rules groups that hold alerts (templates/
# prometheus/rules-1.14: each group is all alerts or all recording rules), and the
# recording groups for what a one-node Linux k3s does not have (Windows nodes, a scheduler
# scrape, which k3s runs in its own process)
DEFAULT_RULES_OFF = (
    "alertmanager", "configReloaders", "etcd", "general", "kubeApiserverSlos", "kubeControllerManager", "kubeProxy",
    "kubeSchedulerAlerting", "kubeStateMetrics", "kubernetesApps", "kubernetesResources", "kubernetesStorage",
    "kubernetesSystem", "network", "nodeExporterAlerting", "prometheus", "prometheusOperator",
    "kubeSchedulerRecording", "windows")
NODE_EXPORTER_FULL = {"gnetId": 1860, "revision": 41, "datasource": "Prometheus"}

PROMETHEUS = Resources(cpu=0.25, cpu_limit=1, memory_mib=1024)
CONFIG_RELOADER = Resources(cpu=0.01, cpu_limit=0.1, memory_mib=64)
OPERATOR = Resources(cpu=0.05, cpu_limit=0.5, memory_mib=128)
KUBE_STATE_METRICS = Resources(cpu=0.05, cpu_limit=0.5, memory_mib=128)
NODE_EXPORTER = Resources(cpu=0.05, cpu_limit=0.5, memory_mib=64)
GRAFANA = Resources(cpu=0.1, cpu_limit=1, memory_mib=384)
GRAFANA_SIDECAR = Resources(cpu=0.02, cpu_limit=0.2, memory_mib=96)
GRAFANA_DOWNLOAD = Resources(cpu=0.05, cpu_limit=0.5, memory_mib=64)


# prometheusSpec.secrets mounts each named Secret of the namespace here (prometheus-operator)
SECRETS_DIR = "/etc/prometheus/secrets"


def scrape_configs(ctx: StackContext) -> list[dict[str, Any]]:
    # the door in LiteLLM's pod, behind Prometheus's own key: what each tenant used, its
    # quotas, its refusals, its requests and their durations (LiteLLM keeps no metrics)
    key_file = f"{SECRETS_DIR}/{LITELLM_METRICS_KEY[0]}/{LITELLM_METRICS_KEY[1]}"
    configs: list[dict[str, Any]] = [
        {"job_name": "litellm-door", "metrics_path": "/door-metrics",
         "authorization": {"type": "Bearer", "credentials_file": key_file},
         "static_configs": [{"targets": [ctx.service_address(litellm.NAME, litellm.PORT)]}]},
        {"job_name": "gateway", "static_configs": [
            {"targets": [f"{ctx.cfg.lan_address}:{ctx.cfg.gateway_metrics_port}"]}]}]
    if ctx.node_exporters:
        configs.append({"job_name": "le-potato", "static_configs": [
            {"targets": list(ctx.node_exporters), "labels": {"device": "le-potato"}}]})
    return configs


def values(ctx: StackContext) -> dict[str, Any]:
    server = ctx.on_node()
    return {
        "alertmanager": {"enabled": False},
        # alerting lives on the Le Potato's watcher (it sees the PC asleep, which nothing in
        # the cluster can): the chart's alerting groups are off (they would fire into nothing,
        # several cannot apply to one k3s node); its recording groups stay, the default
        # dashboards read them
        "defaultRules": {"create": True, "rules": {group: False for group in DEFAULT_RULES_OFF}},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "prometheusOperator": {
            "admissionWebhooks": {"enabled": False},
            "tls": {"enabled": False},
            "resources": OPERATOR.spec(),
            "prometheusConfigReloader": {"resources": CONFIG_RELOADER.spec()},
            "nodeSelector": server,
        },
        "prometheus": {"prometheusSpec": {
            # without these, ServiceMonitors lacking this release's label are ignored
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "retention": ctx.cfg.prometheus_retention,
            "additionalScrapeConfigs": scrape_configs(ctx),
            "secrets": [LITELLM_METRICS_KEY[0]],
            "resources": PROMETHEUS.spec(),
            "nodeSelector": server,
        }},
        "kube-state-metrics": {"resources": KUBE_STATE_METRICS.spec(), "nodeSelector": server},
        "prometheus-node-exporter": {
            "resources": NODE_EXPORTER.spec(),
            # its chart runs it as nobody with a read-only root; no capability, no escalation either
            "containerSecurityContext": security.container_security(non_root=False),
            # the chart's own two, and the game-mode state homelab-gpu writes (Grafana's panel)
            "extraArgs": [*NODE_EXPORTER_CHART_ARGS, f"--collector.textfile.directory={TEXTFILE_MOUNT}"],
            "extraHostVolumeMounts": [{"name": "homelab-gpu-mode", "hostPath": gpu_mode.METRICS_DIR,
                                       "type": "DirectoryOrCreate", "mountPath": TEXTFILE_MOUNT, "readOnly": True}],
        },
        "grafana": {
            "admin": {"existingSecret": GRAFANA_ADMIN[0], "userKey": GRAFANA_ADMIN[1], "passwordKey": GRAFANA_ADMIN[2]},
            "resources": GRAFANA.spec(),
            "nodeSelector": server,
            "testFramework": {"enabled": False},
            "downloadDashboards": {"resources": GRAFANA_DOWNLOAD.spec()},
            # vLLM's dashboards arrive as ConfigMaps labelled grafana_dashboard in the stack's namespace
            "sidecar": {"resources": GRAFANA_SIDECAR.spec(), "dashboards": {"enabled": True, "searchNamespace": "ALL"}},
            "dashboardProviders": {"dashboardproviders.yaml": {"apiVersion": 1, "providers": [{
                "name": "homelab", "orgId": 1, "folder": "homelab", "type": "file", "disableDeletion": True,
                "options": {"path": "/var/lib/grafana/dashboards/homelab"}}]}},
            "dashboards": {"homelab": {"node-exporter-full": dict(NODE_EXPORTER_FULL)}},
        },
    }


def ai_side_dashboard(ctx: StackContext) -> dict[str, Any]:
    """Grafana's "AI side" panel: serving, paused (GPU lent to a game) or resuming, and since
    when: what homelab-gpu writes for the node exporter's textfile collector (the deploy
    writes "serving" before its first run). "Asleep" cannot show here: Prometheus and
    Grafana sleep with the PC; doctor and `tasks.py gpu status` say it."""
    mappings = [{"type": "value", "options": {
        "0": {"text": "serving", "color": "green", "index": 0},
        "1": {"text": "paused: GPU lent to a game", "color": "orange", "index": 1},
        "2": {"text": "resuming", "color": "blue", "index": 2}}}]
    dashboard = {
        "title": "homelab: AI side", "uid": "homelab-ai-side", "schemaVersion": 39, "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "panels": [
            {"id": 1, "type": "stat", "title": "AI side", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 6},
             "datasource": {"type": "prometheus", "uid": "prometheus"},
             "targets": [{"refId": "A", "expr": "max(homelab_gpu_mode)", "instant": True}],
             "fieldConfig": {"defaults": {"mappings": mappings, "noValue": "no figures: is the node exporter scraped?",
                                          "color": {"mode": "thresholds"}}, "overrides": []},
             "options": {"colorMode": "background", "graphMode": "none", "textMode": "value",
                         "reduceOptions": {"calcs": ["lastNotNull"], "values": False}}},
            {"id": 2, "type": "stat", "title": "since", "gridPos": {"x": 12, "y": 0, "w": 12, "h": 6},
             "datasource": {"type": "prometheus", "uid": "prometheus"},
             "targets": [{"refId": "A", "expr": "max(homelab_gpu_mode_since_timestamp_seconds) * 1000",
                          "instant": True}],
             "fieldConfig": {"defaults": {"unit": "dateTimeFromNow", "noValue": "-"}, "overrides": []},
             "options": {"graphMode": "none", "reduceOptions": {"calcs": ["lastNotNull"], "values": False}}},
            {"id": 3, "type": "timeseries", "title": "AI side over time (0 serving, 1 paused, 2 resuming)",
             "gridPos": {"x": 0, "y": 6, "w": 24, "h": 8}, "datasource": {"type": "prometheus", "uid": "prometheus"},
             "targets": [{"refId": "A", "expr": "max(homelab_gpu_mode)"}],
             "fieldConfig": {"defaults": {"mappings": mappings, "min": 0, "max": 2}, "overrides": []}},
            *gpu_panels(first_id=4, y=14),
            # models on demand, as homelab-waker writes them
            {"id": 8, "type": "stat", "title": "models on demand", "gridPos": {"x": 0, "y": 30, "w": 24, "h": 5},
             "datasource": {"type": "prometheus", "uid": "prometheus"},
             "targets": [{"refId": "A", "expr": "max by (model) (homelab_model_state)", "instant": True,
                          "legendFormat": "{{model}}"}],
             "fieldConfig": {"defaults": {"mappings": [{"type": "value", "options": {
                 "0": {"text": "unloaded", "color": "blue", "index": 0},
                 "1": {"text": "loaded", "color": "green", "index": 1},
                 "2": {"text": "starting", "color": "orange", "index": 2},
                 "-1": {"text": "unknown", "color": "grey", "index": 3}}}],
                 "noValue": "every model always loaded", "color": {"mode": "thresholds"}}, "overrides": []},
             "options": {"colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
                         "reduceOptions": {"calcs": ["lastNotNull"], "values": False}}},
        ],
    }
    return dashboard_config_map(ctx, "homelab-ai-side", dashboard)


def gpu_panels(first_id: int, y: int) -> list[dict[str, Any]]:
    """The GPU's figures homelab-gpu-metrics writes (nvidia-smi, every few seconds), beside
    the AI side's state: memory held while paused is an engine that did not let go."""
    source = {"type": "prometheus", "uid": "prometheus"}
    figures = [
        ("GPU memory in use", "homelab_gpu_memory_used_bytes", "bytes",
         [("total", "homelab_gpu_memory_total_bytes")]),
        ("GPU busy", "homelab_gpu_utilization_ratio", "percentunit", []),
        ("GPU temperature", "homelab_gpu_temperature_celsius", "celsius", []),
        ("GPU power", "homelab_gpu_power_watts", "watt", []),
    ]
    panels = []
    for number, (title, metric, unit, extra) in enumerate(figures):
        targets = [{"refId": "A", "expr": metric, "legendFormat": "{{instance}} GPU {{gpu}}"}]
        targets += [{"refId": chr(ord("B") + i), "expr": expr, "legendFormat": f"{{{{instance}}}} {name}"}
                    for i, (name, expr) in enumerate(extra)]
        panels.append({"id": first_id + number, "type": "timeseries", "title": title, "datasource": source,
                       "gridPos": {"x": 12 * (number % 2), "y": y + 8 * (number // 2), "w": 12, "h": 8},
                       "targets": targets,
                       "fieldConfig": {"defaults": {"unit": unit, "noValue": "no figures: is homelab-gpu-metrics "
                                                                             "running on the node?"},
                                       "overrides": []}})
    return panels


def dashboard_config_map(ctx: StackContext, name: str, dashboard: dict[str, Any]) -> dict[str, Any]:
    """A dashboard for Grafana's sidecar (it loads ConfigMaps labelled grafana_dashboard)."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{name}-dashboard", "namespace": ctx.cfg.monitoring_namespace,
                         "labels": {**MANAGED, "grafana_dashboard": "1"}},
            "data": {f"{name}.json": json.dumps(dashboard, indent=1)}}


def usage_dashboard(ctx: StackContext) -> dict[str, Any]:
    """Grafana's "homelab: usage per device": tokens and requests per tenant today and this
    month (UTC: the usage store's figures, which quotas are checked against), the share of
    each quota used, and the requests refused over a limit."""
    source = {"type": "prometheus", "uid": "prometheus"}

    def panel(number: int, title: str, expr: str, kind: str, x: int, y: int, unit: str = "short",
              legend: str = "{{tenant}}") -> dict[str, Any]:
        return {"id": number, "type": kind, "title": title, "datasource": source,
                "gridPos": {"x": x, "y": y, "w": 12, "h": 8},
                "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}],
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}}

    tokens = 'sum by (tenant) (homelab_tenant_tokens{{period="{}"}})'
    dashboard = {
        "title": "homelab: usage per device", "uid": "homelab-usage", "schemaVersion": 39, "refresh": "1m",
        "time": {"from": "now-7d", "to": "now"},
        "panels": [
            panel(1, "tokens today (UTC)", tokens.format("day"), "bargauge", 0, 0),
            panel(2, "tokens this month (UTC)", tokens.format("month"), "bargauge", 12, 0),
            panel(3, "share of the day's quota", f"{tokens.format('day')} / on (tenant) "
                  'homelab_tenant_quota_tokens{period="day"}', "bargauge", 0, 8, "percentunit"),
            panel(4, "share of the month's quota", f"{tokens.format('month')} / on (tenant) "
                  'homelab_tenant_quota_tokens{period="month"}', "bargauge", 12, 8, "percentunit"),
            panel(5, "requests today by model", 'sum by (tenant, model) (homelab_tenant_requests{period="day"})',
                  "timeseries", 0, 16, legend="{{tenant}} {{model}}"),
            panel(6, "refused over a limit (per hour)", "sum by (tenant, limit) "
                  "(increase(homelab_tenant_refused_total[1h]))", "timeseries", 12, 16,
                  legend="{{tenant}}: {{limit}}"),
            # the door's own request figures (LiteLLM keeps none)
            panel(7, "answers by status (per hour)", "sum by (tenant, status) "
                  "(increase(homelab_door_requests_total[1h]))", "timeseries", 0, 24,
                  legend="{{tenant}}: {{status}}"),
            panel(8, "reply time, p95 by model", "histogram_quantile(0.95, sum by (le, model) "
                  "(rate(homelab_door_request_seconds_bucket[5m])))", "timeseries", 12, 24, "s", "{{model}}"),
            panel(9, "first token of a stream, p95 by model", "histogram_quantile(0.95, sum by (le, model) "
                  "(rate(homelab_door_first_token_seconds_bucket[5m])))", "timeseries", 0, 32, "s", "{{model}}"),
        ],
    }
    return dashboard_config_map(ctx, "homelab-usage", dashboard)


def manifests(ctx: StackContext) -> list[dict[str, Any]]:
    return [ai_side_dashboard(ctx), usage_dashboard(ctx), helm_chart(RELEASE, chart="kube-prometheus-stack", repo="https://prometheus-community.github.io/helm-charts",
                       version=ctx.cfg.kube_prometheus_stack_chart_version, namespace=ctx.cfg.monitoring_namespace,
                       values=values(ctx))]


def pods(ctx: StackContext) -> list[PodPlan]:
    ns, server = ctx.cfg.monitoring_namespace, ctx.node_name
    return [
        # the operator makes a StatefulSet "prometheus-<name>" of the Prometheus resource
        PodPlan(f"{RELEASE}-prometheus", ns, {"prometheus": PROMETHEUS, "config-reloader": CONFIG_RELOADER},
                {"init-config-reloader": CONFIG_RELOADER}, node=server),
        PodPlan(f"{RELEASE}-operator", ns, {RELEASE: OPERATOR}, node=server),
        PodPlan(f"{RELEASE}-kube-state-metrics", ns, {"kube-state-metrics": KUBE_STATE_METRICS}, node=server),
        PodPlan(f"{RELEASE}-grafana", ns, {"grafana-sc-dashboard": GRAFANA_SIDECAR,
                                           "grafana-sc-datasources": GRAFANA_SIDECAR, "grafana": GRAFANA},
                {"download-dashboards": GRAFANA_DOWNLOAD}, node=server),
        *(PodPlan(f"{RELEASE}-prometheus-node-exporter", ns, {"node-exporter": NODE_EXPORTER}, node=node)
          for node in ctx.nodes),
    ]

