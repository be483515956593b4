"""The AI stack's manifests, as they landed in k3s's auto-deploy directory on the
GPU-node lab host: valid for Kubernetes and for the charts, driven by the catalogue,
fitting the GPU, secrets only by name, and switched-off components removed."""

import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.secrets_store import SecretsStore
from homelab.stack import manifests
from tests.charts import keys_outside, values_index, values_schema
from tests.support import (
    PROJECT_ROOT,
    assert_converges,
    assert_idempotent,
    assert_repairs,
    inventory_variant,
    landed_manifests,
    planned_commands,
    run_deploy,
)

pytestmark = pytest.mark.lab
MANIFESTS = "/var/lib/rancher/k3s/server/manifests"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KUBERNETES_VERSION = "1.34.0"  # k3s v1.34


@pytest.fixture(scope="module")
def landed(lab, converged_gpu_node):
    """{file name: (text, [objects])} of every manifest on the host."""
    return landed_manifests(lab)


@pytest.fixture(scope="module")
def cfg(lab):
    return settings_for(load_inventory(lab.inventory_file, cwd=PROJECT_ROOT).get_host("gpu-node"))


def helm_charts(landed):
    return {o["metadata"]["name"]: o for _, objs in landed.values() for o in objs if o["kind"] == "HelmChart"}


def chart_values(landed, name):
    return yaml.safe_load(helm_charts(landed)[name]["spec"]["valuesContent"])


def test_file_names_are_valid_for_k3s(landed):
    assert set(landed) == {"homelab-secrets.yaml", "homelab-device-plugin.yaml", "homelab-model-cache.yaml",
                           "homelab-vllm.yaml", "homelab-litellm.yaml", "homelab-gateway.yaml",
                           "homelab-monitoring.yaml", "homelab-open-webui.yaml", "homelab-network-policies.yaml"}
    for name in landed:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\.yaml", name), name
    assert {name.removesuffix(".yaml") for name in landed} <= set(manifests.ALL_FILES)


def test_every_object_is_valid_for_kubernetes_or_the_helmchart_crd(landed):
    crd = json.loads((FIXTURES / "helmchart-crd-schema.json").read_text())
    count = 0
    for _, objects in landed.values():
        for obj in objects:
            if obj["kind"] == "HelmChart":
                jsonschema.validate(obj, crd)
            else:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            count += 1
    assert count >= 15


@pytest.mark.parametrize("release,chart", [("nvidia-device-plugin", "nvidia-device-plugin"), ("vllm", "vllm-stack"),
                                           ("kube-prometheus-stack", "kube-prometheus-stack"),
                                           ("open-webui", "open-webui")])
def test_chart_values_use_only_keys_the_pinned_chart_defines(landed, release, chart):
    """A key the chart does not know is silently ignored by Helm: checked against the
    pinned archive's values.yaml (and its dependency charts')."""
    spec = helm_charts(landed)[release]["spec"]
    assert spec["chart"] == chart
    assert keys_outside(chart_values(landed, release), values_index(chart, spec["version"])) == []


def test_vllm_values_validate_against_the_chart_schema_of_the_tag(landed):
    schema = values_schema("vllm-stack", helm_charts(landed)["vllm"]["spec"]["version"])
    assert schema is not None and "servingEngineSpec" in schema["properties"]
    jsonschema.validate(chart_values(landed, "vllm"), schema)


def test_the_catalogue_drives_vllm_litellm_and_the_prefetch_jobs(landed, cfg):
    catalogue = {m.name: m for m in cfg.models if m.enabled}
    specs = {s["name"]: s for s in chart_values(landed, "vllm")["servingEngineSpec"]["modelSpec"]}
    assert set(specs) == set(catalogue)
    for name, spec in specs.items():
        args = spec["vllmConfig"]["extraArgs"]
        assert args[args.index("--served-model-name") + 1] == name
        assert spec["modelURL"] == f"/models/{name}"
        assert spec["vllmConfig"]["maxModelLen"] == catalogue[name].max_model_len
    litellm_config = yaml.safe_load(next(o for o in landed["homelab-litellm.yaml"][1]
                                         if o["kind"] == "ConfigMap")["data"]["config.yaml"])
    assert {m["model_name"] for m in litellm_config["model_list"]} == set(catalogue)
    # no metrics callback in LiteLLM: the door counts (about 1 ms a request saved, issue 18)
    assert litellm_config["litellm_settings"]["callbacks"] == ["homelab_guard.guard"]
    jobs = {o["metadata"]["labels"]["homelab/model"]: o for o in landed["homelab-model-cache.yaml"][1]
            if o["kind"] == "Job"}
    assert set(jobs) == set(catalogue)
    for name, job in jobs.items():
        command = job["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[:2] == ["python3", "-c"] and "snapshot_download" in command[2]
        spec = json.loads(command[3])
        assert (spec["repo"], spec["revision"]) == (catalogue[name].hf_repo, catalogue[name].revision)
        assert spec["weights"] == catalogue[name].weight_files and set(spec["weights"]) <= set(spec["patterns"])


def test_secrets_only_by_name(lab, landed):
    values = [str(v) for v in (yaml.safe_load(lab.secrets_file.read_text()) or {}).values()]
    assert len(values) >= 3
    for name, (text, objects) in landed.items():
        if name == "homelab-secrets.yaml":
            assert {o["kind"] for o in objects} == {"Namespace", "Secret"}
            continue
        assert not [v for v in values if v in text], f"a secret value is inline in {name}"
        assert "Secret" not in {o["kind"] for o in objects}
    mode = lab.ssh("gpu-node", f"stat -c %a {MANIFESTS}/homelab-secrets.yaml", sudo=True).stdout.strip()
    assert mode == "600"
    vllm = chart_values(landed, "vllm")
    assert vllm["servingEngineSpec"]["vllmApiKey"] == {"secretName": "vllm-api-key", "secretKey": "key"}
    litellm = next(o for o in landed["homelab-litellm.yaml"][1] if o["kind"] == "Deployment")
    containers = {c["name"]: c for c in litellm["spec"]["template"]["spec"]["containers"]}
    env = {e["name"]: e for e in containers["litellm"]["env"]}
    assert env["LITELLM_MASTER_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "litellm-master-key"
    assert "LITELLM_MASTER_KEY" not in {e["name"] for e in containers["door"]["env"]}, "the door never holds it"


def test_vllm_stays_inside_the_cluster(landed):
    assert chart_values(landed, "vllm")["routerSpec"]["serviceType"] == "ClusterIP"
    services = [o for _, objs in landed.values() for o in objs if o["kind"] == "Service"]
    assert all(s["spec"]["type"] == "ClusterIP" for s in services)


def test_monitoring_scrapes_litellm_and_the_potato(landed, lab):
    prometheus = chart_values(landed, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    assert prometheus["serviceMonitorSelectorNilUsesHelmValues"] is False
    jobs = {c["job_name"]: c for c in prometheus["additionalScrapeConfigs"]}
    assert jobs["litellm-door"]["metrics_path"] == "/door-metrics" and "litellm" not in jobs
    assert jobs["gateway"]["static_configs"][0]["targets"] == [f"{lab.spec('gpu-node').address}:9180"]
    assert jobs["le-potato"]["static_configs"][0]["targets"] == [f"{lab.spec('potato').address}:9100"]
    assert chart_values(landed, "vllm")["servingEngineSpec"]["serviceMonitor"]["enabled"] is True
    grafana = chart_values(landed, "kube-prometheus-stack")["grafana"]
    assert grafana["dashboards"]["homelab"]["node-exporter-full"]["gnetId"] == 1860


def test_open_webui_points_at_litellm_with_its_own_key(landed):
    webui = chart_values(landed, "open-webui")
    assert webui["openaiBaseApiUrl"] == "http://litellm.ai.svc.cluster.local:4000/v1"
    assert webui["openaiApiKeyExistingSecret"] == "litellm-open-webui-key" and webui["ollama"]["enabled"] is False
    # document search embeds through LiteLLM too (Open WebUI 0.11.0 defaults to api.openai.com)
    env = {e["name"]: e for e in webui["extraEnvVars"]}
    assert env["RAG_OPENAI_API_BASE_URL"]["value"] == webui["openaiBaseApiUrl"]
    assert env["RAG_OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "litellm-open-webui-key", "key": "key"}
    assert env["ENABLE_PERSISTENT_CONFIG"]["value"] == "false"


def test_the_master_key_that_was_readable_is_not_the_one_deployed(lab, inventory):
    """Before the door was closed the master key could be read through LiteLLM's metrics.
    A store from then holds it as litellm_master_key; the deploy makes and ships a new one."""
    store = SecretsStore(lab.secrets_file)
    old = "MasterKeyReadableThroughMetrics" + "0" * 12
    store.set("litellm_master_key", old)
    try:
        assert_converges("gpu_node", inventory, limit="gpu-node", expect_changes=None)
        secrets = {o["metadata"]["name"]: o["stringData"] for o in landed_manifests(lab)["homelab-secrets.yaml"][1]
                   if o["kind"] == "Secret"}
        deployed = secrets["litellm-master-key"]["key"]
        assert deployed == store.get("litellm_master_key.2").reveal() and deployed != old
    finally:
        store.delete("litellm_master_key")


def test_the_master_key_stays_in_litellms_pod(landed):
    """LiteLLM's master key had been readable through the gateway; now no other pod has it
    (the gateway, Open WebUI and Prometheus each hold a key of their own)."""
    holders = []
    for name, (text, objects) in landed.items():
        if name != "homelab-secrets.yaml" and "litellm-master-key" in text:
            holders += [f"{name}:{o['kind']}/{o['metadata']['name']}" for o in objects
                        if "litellm-master-key" in json.dumps(o)]
    assert holders == ["homelab-litellm.yaml:Deployment/litellm"]


def test_edited_manifest_is_repaired(lab, landed, inventory):
    lab.ssh("gpu-node", f"sed -i 's/routingLogic: prefixaware/routingLogic: roundrobin/' {MANIFESTS}/homelab-vllm.yaml",
            sudo=True)
    run = assert_repairs("gpu_node", inventory, "gpu-node", limit="gpu-node")
    assert run.changed_operations("gpu-node") == ["AI stack manifests | homelab-vllm.yaml"]


def test_switching_a_component_off_deletes_it_from_the_cluster(lab, landed, tmp_path):
    variant = inventory_variant(lab, tmp_path, {"gpu-node": {"open_webui_enabled": False}})
    plan = planned_commands(variant, "gpu_node", "gpu-node")
    assert plan["AI stack manifests | homelab-open-webui.yaml switched off"] == [
        f"/usr/local/bin/k3s kubectl delete --ignore-not-found --wait=false -f {MANIFESTS}/homelab-open-webui.yaml",
        f"rm -f {MANIFESTS}/homelab-open-webui.yaml"]
    try:
        assert_converges("gpu_node", variant, limit="gpu-node")
        assert lab.ssh("gpu-node", f"test -e {MANIFESTS}/homelab-open-webui.yaml", sudo=True, check=False).returncode
        assert_idempotent("gpu_node", variant, limit="gpu-node")
    finally:
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node")
    assert lab.ssh("gpu-node", f"test -e {MANIFESTS}/homelab-open-webui.yaml", sudo=True).returncode == 0


def test_a_data_override_reaches_the_manifests(lab, landed):
    """`--data gateway_port=8081` goes through the same check as group data and into what
    the deploy writes: the gateway's manifest on the host says 8081, then goes back."""
    try:
        run = run_deploy("gpu_node", lab.inventory_file, "--data", "gateway_port=8081", limit="gpu-node")
        assert run.returncode == 0, run.explain()
        assert "AI stack manifests | homelab-gateway.yaml" in run.changed_operations("gpu-node")
        gateway = lab.ssh("gpu-node", f"cat {MANIFESTS}/homelab-gateway.yaml", sudo=True).stdout
        assert ":8081" in gateway and ":8080" not in gateway
    finally:
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node")
    assert lab.ssh("gpu-node", f"cat {MANIFESTS}/homelab-gateway.yaml", sudo=True).stdout == \
        landed["homelab-gateway.yaml"][0]


def test_gateway_on_the_node_network_with_tokens_by_name(landed, cfg):
    objects = {o["kind"]: o for o in landed["homelab-gateway.yaml"][1]}
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    container = pod["containers"][0]
    assert container["image"] == cfg.caddy_image and container["ports"][0]["hostPort"] == cfg.gateway_port
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert {name for name, ref in env.items() if ref["name"] == "gateway-tokens"} == {
        "HOMELAB_TOKEN_IPAD", "HOMELAB_TOKEN_MACBOOK", "HOMELAB_TOKEN_PIXEL"}
    upstreams = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert upstreams["LITELLM_UPSTREAM"] == "litellm.ai.svc.cluster.local:4000"
    caddyfile = objects["ConfigMap"]["data"]["Caddyfile"]
    assert "{$HOMELAB_TOKEN_PIXEL}" in caddyfile and "reverse_proxy {$LITELLM_UPSTREAM}" in caddyfile
    assert f"@outside not client_ip {' '.join(cfg.gateway_allowlist)}" in caddyfile
    secrets = {o["metadata"]["name"]: o for o in landed["homelab-secrets.yaml"][1] if o["kind"] == "Secret"}
    assert env["LITELLM_GATEWAY_KEY"] == {"name": "litellm-gateway-key", "key": "key"}
    assert set(secrets["gateway-tokens"]["stringData"]) == set(env) - {"LITELLM_GATEWAY_KEY", "HOMELAB_WATCHER_TOKEN"}
    # the Le Potato watcher's token for /federate, from a Secret of its own
    assert env["HOMELAB_WATCHER_TOKEN"] == {"name": "watcher-token", "key": "token"}
    assert secrets["watcher-token"]["stringData"]["token"]


def test_diff_shows_changes_but_never_a_secret(lab, landed, inventory):
    """--diff prints what changes in ordinary files; files that hold secrets are replaced
    without a word of their content (run_deploy checks every run's output for every
    value in the secrets store)."""
    lab.ssh("gpu-node", f"sed -i 's/^  name: gateway-tokens/  name: gateway-tokens-x/' {MANIFESTS}/homelab-secrets.yaml"
                        " && echo tampered >> /etc/rancher/k3s/cluster-token"
                        " && sed -i 's/routingLogic: prefixaware/routingLogic: session/'"
                        f" {MANIFESTS}/homelab-vllm.yaml",
            sudo=True)
    run = assert_repairs("gpu_node", inventory, "gpu-node", "--diff", limit="gpu-node")
    assert "Will modify /var/lib/rancher/k3s/server/manifests/homelab-vllm.yaml" in run.stderr
    assert "routingLogic: prefixaware" in run.stderr
    assert "gateway-tokens" not in run.stderr and "tampered" not in run.stderr
