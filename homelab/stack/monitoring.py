"""kube-prometheus-stack: Prometheus scraping vLLM's engines and router (their
ServiceMonitors, picked up without the release label), LiteLLM and the Le Potato's node
exporter (static targets), Grafana with Node Exporter Full and vLLM's dashboards."""

from __future__ import annotations

from homelab.stack import litellm
from homelab.stack.common import StackContext, helm_chart
from homelab.stack.secrets import GRAFANA_ADMIN

NODE_EXPORTER_FULL = {"gnetId": 1860, "revision": 41, "datasource": "Prometheus"}


def scrape_configs(ctx: StackContext) -> list[dict]:
    configs = [{"job_name": "litellm", "metrics_path": "/metrics/",
                "static_configs": [{"targets": [f"{litellm.NAME}.{ctx.namespace}.svc.cluster.local:{litellm.PORT}"]}]}]
    if ctx.node_exporters:
        configs.append({"job_name": "le-potato", "static_configs": [
            {"targets": list(ctx.node_exporters), "labels": {"device": "le-potato"}}]})
    return configs


def values(ctx: StackContext) -> dict:
    return {
        "alertmanager": {"enabled": False},
        "prometheus": {"prometheusSpec": {
            # without these, ServiceMonitors lacking this release's label are ignored
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "retention": ctx.cfg.prometheus_retention,
            "additionalScrapeConfigs": scrape_configs(ctx),
        }},
        "grafana": {
            "admin": {"existingSecret": GRAFANA_ADMIN[0], "userKey": GRAFANA_ADMIN[1], "passwordKey": GRAFANA_ADMIN[2]},
            # vLLM's dashboards arrive as ConfigMaps labelled grafana_dashboard in the stack's namespace
            "sidecar": {"dashboards": {"enabled": True, "searchNamespace": "ALL"}},
            "dashboardProviders": {"dashboardproviders.yaml": {"apiVersion": 1, "providers": [{
                "name": "homelab", "orgId": 1, "folder": "homelab", "type": "file", "disableDeletion": True,
                "options": {"path": "/var/lib/grafana/dashboards/homelab"}}]}},
            "dashboards": {"homelab": {"node-exporter-full": dict(NODE_EXPORTER_FULL)}},
        },
    }


def manifests(ctx: StackContext) -> list[dict]:
    return [helm_chart("kube-prometheus-stack", chart="kube-prometheus-stack",
                       repo="https://prometheus-community.github.io/helm-charts",
                       version=ctx.cfg.kube_prometheus_stack_chart_version, namespace=ctx.cfg.monitoring_namespace,
                       values=values(ctx))]
