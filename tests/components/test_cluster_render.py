"""What k3s would run, proven from what the GPU-node deploy wrote on the lab host: every
HelmChart that landed in k3s's auto-deploy directory is rendered with real Helm (v4.1.4,
scripts/install_helm.sh) and the pinned chart archive (charts/, sha256 in SHA256SUMS),
with its version, target namespace and values, and every object, rendered or plain, is
checked strictly against Kubernetes 1.34's schemas (custom resources against their CRDs).

There is no Kubernetes here (a stand-in k3s runs in the lab), so what the cluster does
with the objects is modelled in tests/cluster_model.py: admission defaults, which node a
pod lands on, what it requests. The planners' figures are held against that model."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from homelab import capacity
from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.settings import GpuNode
from homelab.stack import device_plugin, helm_render
from homelab.stack.common import StackContext
from tests.cluster_model import Endpoint, pod_security_violations, pods_on, quantity, reachable, strictest_level
from tests.support import PROJECT_ROOT, landed_manifests

pytestmark = pytest.mark.lab
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
README = PROJECT_ROOT / "README.md"
KUBERNETES_VERSION = "1.34.0"  # k3s v1.34


def node_labels(nodes) -> dict[str, dict[str, str]]:
    """The labels each GPU node carries (kubelet's own, and those k3s's config.yaml sets)."""
    return {name: {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "nvidia.com/gpu.present": "true",
                   device_plugin.CONFIG_LABEL: device_plugin.config_name(name)} for name in nodes}


@pytest.fixture(scope="module")
def landed(lab, converged_gpu_node):
    return {name: objects for name, (_, objects) in landed_manifests(lab).items()}


@pytest.fixture(scope="module")
def rendered(landed) -> list[helm_render.Rendered]:
    return helm_render.render(landed)


@pytest.fixture(scope="module")
def ctx(lab) -> StackContext:
    inventory = load_inventory(lab.inventory_file, cwd=PROJECT_ROOT)
    return StackContext(nodes={h.name: settings_for(h, GpuNode) for h in inventory.get_group("gpu_nodes")})


def by_kind(rendered, kind) -> dict[str, dict]:
    return {r.name: r.obj for r in rendered if r.kind == kind}


def container(deployment: dict, name: str) -> dict:
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def test_every_helmchart_renders_with_its_pinned_chart(landed, rendered):
    charts = [o for objects in landed.values() for o in objects if o["kind"] == "HelmChart"]
    assert {c["metadata"]["name"] for c in charts} == {"nvidia-device-plugin", "vllm", "kube-prometheus-stack",
                                                       "open-webui"}
    sources = {r.source.split("/", 1)[1] for r in rendered if "/" in r.source}
    assert sources == {c["metadata"]["name"] for c in charts}, "a HelmChart rendered nothing"
    for chart in charts:
        # a failed upgrade must not uninstall the release (and with it the volumes a chart owns)
        assert chart["spec"]["failurePolicy"] == "abort", chart["metadata"]["name"]
        made = [r for r in rendered if r.source.endswith("/" + chart["metadata"]["name"])]
        namespaced = [r.obj["metadata"].get("namespace") for r in made if r.obj["metadata"].get("namespace")]
        # kube-prometheus-stack adds Services in kube-system for the scrapes of k3s's own parts
        assert chart["spec"]["targetNamespace"] in namespaced, chart["metadata"]["name"]
        assert set(namespaced) <= {chart["spec"]["targetNamespace"], "kube-system"}, chart["metadata"]["name"]


def strict(schema):
    """A CRD's schema as the API server's strict field validation reads it: unknown fields
    are errors, except where the schema keeps them (x-kubernetes-preserve-unknown-fields)."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [strict(v) for v in schema]
    return schema


def test_every_object_is_valid_for_kubernetes_1_34_or_its_crd(rendered):
    crds = {}
    for crd in helm_render.chart_crds("kube-prometheus-stack", "88.5.3"):
        for version in crd["spec"]["versions"]:
            crds[(f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])] = \
                strict(version["schema"]["openAPIV3Schema"])
    crds[("helm.cattle.io/v1", "HelmChart")] = json.loads((FIXTURES / "helmchart-crd-schema.json").read_text())
    counts = {"kubernetes": 0, "custom": 0}
    for item in rendered:
        key = (item.obj["apiVersion"], item.kind)
        if key in crds:
            # (Go's regular expressions in some patterns do not compile as Python's: the schema
            # itself is not checked, only the object against it)
            jsonschema.Draft7Validator(crds[key]).validate(item.obj)
            counts["custom"] += 1
        else:
            kubernetes_validate.validate(item.obj, KUBERNETES_VERSION, strict=True)
            counts["kubernetes"] += 1
    print(f"validated {counts['kubernetes']} Kubernetes objects and {counts['custom']} custom resources")
    # the README quotes these figures: they must be what the render shows
    quoted = re.search(r"\*\*(\d+) objects \((\d+) Kubernetes objects, (\d+) custom resources\)", README.read_text())
    assert quoted and tuple(map(int, quoted.groups())) == (sum(counts.values()), counts["kubernetes"], counts["custom"])


def test_no_image_without_a_pinned_tag(rendered):
    images = helm_render.images(rendered)
    assert len(images) >= 12
    for image in images:
        assert re.fullmatch(r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+:[A-Za-z0-9._-]+(@sha256:[0-9a-f]{64})?", image) \
            or re.fullmatch(r"[a-z0-9._-]+:[A-Za-z0-9._-]+", image), image
        assert not image.endswith(":latest"), image


def test_each_engine_runs_what_the_catalogue_and_the_plans_say(rendered, ctx):
    deployments = by_kind(rendered, "Deployment")
    for model in ctx.models:
        engine = deployments[f"vllm-{model.name}-deployment-vllm"]
        pod = engine["spec"]["template"]["spec"]
        vllm = container(engine, "vllm")
        args = vllm["command"] + vllm.get("args", [])
        assert vllm["image"] == ctx.cfg.vllm_image
        assert args[args.index("--served-model-name") + 1] == model.name
        assert args[args.index("serve") + 1] == f"/models/{model.name}"
        assert float(args[args.index("--gpu_memory_utilization") + 1]) == ctx.share(model).utilization
        if model.kind == "embedding":
            assert args[args.index("--runner") + 1] == "pooling"
        else:
            assert "--runner" not in args and "--enable-prefix-caching" in args
        assert vllm["resources"]["requests"]["nvidia.com/gpu"] == "1" == vllm["resources"]["limits"]["nvidia.com/gpu"]
        assert pod["runtimeClassName"] == "nvidia"
        assert engine["spec"]["strategy"] == {"type": "Recreate"}, "a rolling update would wait for a second GPU share"
        mounts = {m["mountPath"]: m["name"] for m in vllm["volumeMounts"]}
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
                  for v in pod["volumes"] if "persistentVolumeClaim" in v}
        assert claims[mounts["/models"]] == f"model-cache-{ctx.node_of(model)}"
        env = {e["name"]: e for e in vllm["env"]}
        assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "vllm-api-key", "key": "key"}
        assert env["HF_HUB_OFFLINE"]["value"] == "1"
        if model.lmcache_cpu_gib:
            assert float(env["LMCACHE_MAX_LOCAL_CPU_SIZE"]["value"]) == model.lmcache_cpu_gib <= 0.5
            assert env["LMCACHE_LOCAL_CPU"]["value"] == "True"
            assert len([e for e in vllm["env"] if e["name"] == "LMCACHE_MAX_LOCAL_CPU_SIZE"]) == 1
            assert json.loads(args[args.index("--kv-transfer-config") + 1])["kv_connector"] == "LMCacheConnectorV1"
        terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                                "values": [ctx.node_of(model)]}]}]


def test_clip_is_served_by_a_vllm_that_has_it_with_weights_the_prefetch_fetches(rendered, ctx):
    clip = next(m for m in ctx.models if "image" in m.inputs)
    vllm = container(by_kind(rendered, "Deployment")[f"vllm-{clip.name}-deployment-vllm"], "vllm")
    # vLLM's CLIPEmbeddingModel first shipped in v0.11.1 (PR #26010)
    version = tuple(int(x) for x in re.search(r":v(\d+)\.(\d+)\.(\d+)", vllm["image"]).groups())
    assert version >= (0, 11, 1), vllm["image"]
    job = by_kind(rendered, "Job")[next(n for n in by_kind(rendered, "Job") if n.startswith(f"prefetch-{clip.name}-"))]
    spec = json.loads(container(job, "download")["command"][3])
    assert spec["revision"] == clip.revision and "pytorch_model.bin" in spec["patterns"]


def test_engines_start_in_order_but_never_wait_forever_for_another(rendered, ctx):
    """Always-loaded engines start one after another; one on demand starts unloaded (no
    replica until homelab-waker scales it) and waits for no other engine."""
    deployments = by_kind(rendered, "Deployment")
    for model in ctx.models:
        spec = deployments[f"vllm-{model.name}-deployment-vllm"]["spec"]
        assert spec["replicas"] == (0 if model.on_demand else 1)
        if model.on_demand:
            assert "/health" not in spec["template"]["spec"]["initContainers"][0]["args"][0]
    assert any(m.on_demand for m in ctx.models) and not all(m.on_demand for m in ctx.models)
    for node in ctx.nodes:
        engines = [m for m in ctx.models_on(node) if not m.on_demand]
        for previous, model in zip([None, *engines], engines):
            init = deployments[f"vllm-{model.name}-deployment-vllm"]["spec"]["template"]["spec"]["initContainers"][0]
            script = init["args"][0]
            assert f".complete-{model.revision[:12]}" in script
            if previous is None:
                assert "/health" not in script
            else:
                assert f"vllm-{previous.name}-engine-service/health" in script
                assert f"-ge {ctx.cfg.engine_start_wait_seconds} ]" in script and "break" in script


def test_time_slicing_offers_one_share_per_model_on_each_node(rendered, ctx):
    (config_map,) = [o for name, o in by_kind(rendered, "ConfigMap").items()
                     if name.startswith("nvidia-device-plugin-")]
    for node in ctx.nodes:
        sharing = yaml.safe_load(config_map["data"][device_plugin.config_name(node)])
        assert sharing["sharing"]["timeSlicing"]["resources"] == [
            {"name": "nvidia.com/gpu", "replicas": max(len(ctx.models_on(node)), 1)}]


def test_the_cluster_keeps_recording_rules_and_no_alerts(rendered):
    """Alerting lives on the Le Potato's watcher: no rule of the chart's fires in the cluster
    (Alertmanager is off), while the recording rules its dashboards read stay."""
    rules = [rule for obj in by_kind(rendered, "PrometheusRule").values()
             for group in obj["spec"]["groups"] for rule in group["rules"]]
    assert [r["alert"] for r in rules if "alert" in r] == []
    recorded = {r["record"] for r in rules}
    assert "node_namespace_pod_container:container_cpu_usage_seconds_total:sum_rate5m" in recorded
    assert "instance:node_cpu_utilisation:rate5m" in recorded


def test_prometheus_scrapes_vllm_litellm_the_gateway_and_the_potato(rendered, ctx, lab):
    secret = by_kind(rendered, "Secret")["kube-prometheus-stack-prometheus-scrape-confg"]
    scrape_configs = yaml.safe_load(base64.b64decode(secret["data"]["additional-scrape-configs.yaml"]))
    jobs = {j["job_name"]: j for j in scrape_configs}
    assert jobs["litellm-door"]["static_configs"][0]["targets"] == ["litellm.ai.svc.cluster.local:4000"]
    assert jobs["litellm-door"]["metrics_path"] == "/door-metrics"
    assert "litellm" not in jobs, "LiteLLM keeps no metrics: the door's are the tenants' figures"
    assert jobs["gateway"]["static_configs"][0]["targets"] == [f"{ctx.cfg.lan_address}:{ctx.cfg.gateway_metrics_port}"]
    assert jobs["le-potato"]["static_configs"][0]["targets"] == [f"{lab.spec('potato').address}:9100"]
    (prometheus,) = by_kind(rendered, "Prometheus").values()
    # the door's metrics with Prometheus's own key, from a Secret the operator mounts (never inline)
    assert jobs["litellm-door"]["authorization"] == {
        "type": "Bearer", "credentials_file": "/etc/prometheus/secrets/litellm-metrics-key/key"}
    assert "litellm-metrics-key" in prometheus["spec"]["secrets"]
    assert prometheus["spec"]["serviceMonitorSelector"] == {}, "ServiceMonitors without the release label count"
    monitors = {name: o for name, o in by_kind(rendered, "ServiceMonitor").items()
                if o["metadata"]["namespace"] == "ai"}
    services = [o for o in by_kind(rendered, "Service").values() if o["metadata"]["namespace"] == "ai"]
    for monitor in monitors.values():
        wanted = monitor["spec"]["selector"]["matchLabels"]
        assert [s for s in services if wanted.items() <= s["metadata"].get("labels", {}).items()], monitor


def test_litellm_holds_only_the_keys_its_guard_checks(rendered):
    """LiteLLM's container gets the master key, the engines' key and its two callers' keys;
    Prometheus's key and the waker's token are the door's alone (LiteLLM keeps no metrics)."""
    pod = by_kind(rendered, "Deployment")["litellm"]["spec"]["template"]["spec"]
    names = {c["name"]: {e["name"] for e in c["env"]} for c in pod["containers"]}
    assert {"HOMELAB_GATEWAY_KEY", "HOMELAB_OPEN_WEBUI_KEY", "LITELLM_MASTER_KEY", "VLLM_API_KEY"} <= names["litellm"]
    assert not {"HOMELAB_METRICS_KEY", "HOMELAB_WAKER_TOKEN"} & names["litellm"]
    assert "HOMELAB_METRICS_KEY" in names["door"]


def test_every_container_has_requests_and_limits(rendered, ctx):
    for node, pods in pods_on(rendered, node_labels(ctx.nodes)).items():
        for pod in pods:
            for c in [*pod.containers, *pod.init_containers]:
                assert {"cpu", "memory"} <= set(c.requests) and {"cpu", "memory"} <= set(c.limits), \
                    f"{pod.workload.name}/{c.name} on {node}"


def test_the_ram_and_cpu_plan_is_what_the_rendered_pods_request(rendered, ctx):
    plans = capacity.plan(ctx)
    for node, pods in pods_on(rendered, node_labels(ctx.nodes)).items():
        plan = plans[node]
        rendered_pods = sorted((p.workload.name, round(p.request("cpu"), 3), int(p.request("memory") / 2**20))
                               for p in pods)
        planned_pods = sorted((p.name, round(p.cpu, 3), p.memory_mib) for p in plan.pods)
        assert rendered_pods == planned_pods
        cpu, memory = sum(p.request("cpu") for p in pods), sum(p.request("memory") for p in pods) / 2**20
        assert round(cpu, 3) == round(plan.pod_cpu, 3) and memory == plan.pod_memory_mib
        print(f"{node}: {len(pods)} pods request {cpu:.2f} CPU and {memory:.0f} MiB, as planned; "
              f"WSL gets memory={plan.wsl_memory_gib}GB processors={plan.wsl_processors}")
        assert plan.fits
    quoted = re.search(r"\*\*(\d+) pods that request ([\d.]+) CPU and ([\d,]+) MiB on the GPU node", README.read_text())
    server = plans[ctx.node_name]
    assert quoted and (int(quoted.group(1)), float(quoted.group(2)), int(quoted.group(3).replace(",", ""))) == (
        len(server.pods), round(server.pod_cpu, 2), server.pod_memory_mib), "README's figures are the render's"
    assert f"`memory={server.wsl_memory_gib}GB`, `processors={server.wsl_processors}`" in README.read_text()


def test_what_must_stay_on_the_server_is_pinned_there(rendered, ctx):
    placed = pods_on(rendered, node_labels(ctx.nodes))
    for pod in (p for pods in placed.values() for p in pods):
        if pod.workload.item.kind != "DaemonSet":
            selector = pod.workload.pod.get("nodeSelector", {})
            affinity = (pod.workload.pod.get("affinity") or {}).get("nodeAffinity")
            assert selector.get("kubernetes.io/hostname") or affinity, f"{pod.workload.name} may land on any node"
    gateway = by_kind(rendered, "Deployment")["gateway"]["spec"]["template"]["spec"]
    assert gateway["hostNetwork"] and gateway["nodeSelector"] == {"kubernetes.io/hostname": ctx.node_name}
    volumes = by_kind(rendered, "PersistentVolume")
    usage = volumes.pop("litellm-usage")  # the tenants' usage store: the server's disk
    assert usage["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [
        ctx.node_name] and usage["spec"]["hostPath"]["path"] == "/var/lib/homelab/usage"
    for pv in volumes.values():
        node = pv["metadata"]["name"].removeprefix("model-cache-")
        term = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
        assert term["values"] == [node] and pv["spec"]["hostPath"]["path"] == ctx.nodes[node].model_cache_path


def test_the_gpu_nodes_node_exporter_reads_the_game_mode_state(rendered):
    (exporter,) = [o for name, o in by_kind(rendered, "DaemonSet").items() if name.endswith("node-exporter")]
    pod = exporter["spec"]["template"]["spec"]
    args = container(exporter, "node-exporter")["args"]
    mounts = {m["name"]: m["mountPath"] for m in container(exporter, "node-exporter")["volumeMounts"]}
    volumes = {v["name"]: v.get("hostPath", {}).get("path") for v in pod["volumes"]}
    textfile = next(a.split("=", 1)[1] for a in args if a.startswith("--collector.textfile.directory="))
    (name,) = [n for n, path in mounts.items() if path == textfile]
    assert volumes[name] == "/var/lib/homelab/gpu-mode/metrics"
    assert any(a.startswith("--collector.filesystem.mount-points-exclude=") for a in args), "the chart's own args"
    dashboards = [o for o in by_kind(rendered, "ConfigMap").values() if o["metadata"].get("labels", {}).get(
        "grafana_dashboard") == "1" and "homelab-ai-side.json" in o.get("data", {})]
    assert len(dashboards) == 1 and json.loads(dashboards[0]["data"]["homelab-ai-side.json"])["panels"]


INTERNET, LAN_DEVICE, API_SERVICE = "93.184.216.34", "192.168.1.50", "10.43.0.1"


def endpoints(rendered, ctx, lab) -> list[Endpoint]:
    """Every pod the render makes (where it runs, its labels and named ports), host-network
    pods as their node's address, and the addresses outside: the node itself, CoreDNS, the
    Le Potato, a LAN device, the internet, the API server's Service address."""
    found = []
    for node, pods in pods_on(rendered, node_labels(ctx.nodes)).items():
        for pod in pods:
            workload = pod.workload
            ports = tuple((p.get("name", str(p["containerPort"])), p["containerPort"])
                          for c in workload.containers for p in c.get("ports", []))
            if workload.pod.get("hostNetwork"):
                found.append(Endpoint(workload.name, address=ctx.nodes[node].lan_address, node=node, ports=ports))
            else:
                found.append(Endpoint(workload.name, workload.namespace, tuple(sorted(workload.labels.items())),
                                      node=node, ports=ports))
    found += [Endpoint("node", address=ctx.cfg.lan_address, node=ctx.node_name),
              Endpoint("coredns", "kube-system", (("k8s-app", "kube-dns"),), node=ctx.node_name,
                       ports=(("dns", 53), ("metrics", 9153))),
              Endpoint("potato", address=lab.spec("potato").address), Endpoint("lan-device", address=LAN_DEVICE),
              Endpoint("internet", address=INTERNET), Endpoint("api-service", address=API_SERVICE)]
    return found


def candidate_ports(target: Endpoint) -> list[tuple[int, str]]:
    extra = {"node": [6443, 10250, 9100, 9180, 8080, 8081, 22], "potato": [9100, 3142, 22], "internet": [443, 80],
             "lan-device": [22, 443], "api-service": [443]}.get(target.name, [])
    ports = [(port, "TCP") for port in sorted({p for _, p in target.ports} | set(extra))]
    return ports + ([(53, "UDP")] if target.name == "coredns" else [])


def test_network_policies_allow_exactly_the_planned_paths(rendered, ctx, lab):
    """Every pod of the render against every other and the addresses outside, evaluated
    under the rendered NetworkPolicies (tests/cluster_model.py: Kubernetes' semantics and
    kube-router's one rule of its own): what is reachable is exactly the plan of
    homelab/stack/network_policies.py."""
    policies = list(by_kind(rendered, "NetworkPolicy").values())
    everyone = endpoints(rendered, ctx, lab)
    sources = [e for e in everyone if (e.is_pod and e.name != "coredns") or e.name in ("gateway", "lan-device")]
    reached = {(s.name, t.name, f"{port}/{proto}") for s in sources for t in everyone if t is not s
               for port, proto in candidate_ports(t) if reachable(policies, s, t, port, proto)}
    named = {e.name: e for e in everyone}
    engines = [f"vllm-{m.name}-deployment-vllm" for m in ctx.models]
    prefetch = [n for n in named if n.startswith("prefetch-")]
    dns = {"53/UDP", "53/TCP"}

    def to(target, *ports):
        return {(target, f"{p}/TCP") for p in ports} if ports else set()

    plan: dict[str, set] = {
        **{e: {("coredns", p) for p in dns} | {(o, "8000/TCP") for o in engines if o != e} for e in engines},
        "vllm-deployment-router": {("coredns", p) for p in dns} | {(e, "8000/TCP") for e in engines}
        | to("node", 6443),
        "litellm": {("coredns", p) for p in dns} | to("vllm-deployment-router", 8000),
        "open-webui": {("coredns", p) for p in dns} | to("litellm", 4000),
        **{j: {("coredns", p) for p in dns} | to("internet", 443) for j in prefetch},
        "kube-prometheus-stack-prometheus": {("coredns", p) for p in dns} | {(e, "8000/TCP") for e in engines}
        | to("vllm-deployment-router", 8000) | to("litellm", 4000) | to("node", 9180, 9100, 10250, 6443)
        | to("potato", 9100) | to("coredns", 9153) | to("kube-prometheus-stack-grafana", 3000)
        | to("gateway", 9180) | to("kube-prometheus-stack-prometheus-node-exporter", 9100)
        | to("kube-prometheus-stack-kube-state-metrics", 8080, 8081) | to("kube-prometheus-stack-operator", 8080),
        "kube-prometheus-stack-grafana": {("coredns", p) for p in dns} | to("node", 6443) | to("internet", 443)
        | to("kube-prometheus-stack-prometheus", 9090),
        "kube-prometheus-stack-kube-state-metrics": {("coredns", p) for p in dns} | to("node", 6443),
        "kube-prometheus-stack-operator": {("coredns", p) for p in dns} | to("node", 6443),
        "nvidia-device-plugin": {("coredns", p) for p in dns} | to("node", 6443),
        # a process on the node reaches every pod of its node (kube-router) and every address:
        # the gateway's own Caddyfile is its filter
        "gateway": {(t.name, f"{p}/{proto}") for t in everyone if t.name != "gateway"
                    for p, proto in candidate_ports(t)},
        # the LAN reaches none of the stack's pods, only what listens on the node's own address
        # (CoreDNS is k3s's own, in kube-system, which no policy here covers)
        "lan-device": {(t.name, f"{p}/{proto}") for t in everyone
                       if (not t.is_pod or t.name == "coredns") and t.name != "lan-device"
                       for p, proto in candidate_ports(t)},
    }
    expected = {(source, target, port) for source, pairs in plan.items() for target, port in pairs}
    assert {s.name for s in sources} == set(plan), "a pod the plan does not know, or one it misses"
    assert sorted(reached - expected) == [], f"reachable beyond the plan: {sorted(reached - expected)}"
    assert sorted(expected - reached) == [], f"planned but blocked: {sorted(expected - reached)}"
    # the engines' media: fetched from nowhere (vLLM 0.11.1 lowercases a URL's host before it
    # compares it with this list, so an upper-case entry matches no URL at all)
    for name in engines:
        args = container(by_kind(rendered, "Deployment")[name], "vllm")
        argv = args["command"] + args.get("args", [])
        assert argv[argv.index("--allowed-media-domains") + 1] == "NO-MEDIA.INVALID"
        env = {e["name"]: e.get("value") for e in args["env"]}
        assert env["VLLM_MEDIA_URL_ALLOW_REDIRECTS"] == "0"


def test_open_webui_has_its_admin_from_the_secrets_store_and_no_signup(rendered):
    (webui,) = by_kind(rendered, "StatefulSet").values()
    env = {e["name"]: e for e in container(webui, "open-webui")["env"]}
    assert env["ENABLE_SIGNUP"]["value"] == "false"
    assert env["WEBUI_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "open-webui-admin", "key": "password"}
    assert "@" in env["WEBUI_ADMIN_EMAIL"]["value"]


def test_quantities_parse_like_kubernetes():
    assert quantity("250m") == 0.25 and quantity("1536Mi") == 1536 * 2**20 and quantity(2) == 2
    with pytest.raises(ValueError):
        quantity("12 GB")


def test_helm_3_renders_exactly_what_helm_4_renders(landed, rendered):
    """k3s installs the charts with its Helm controller's Helm 3 (k3s v1.34.2: klipper-helm
    v0.9.10, Helm v3.19.1); every figure above comes from Helm 4.1.4. Helm 3.17.2 renders
    the same objects, field for field."""
    with_helm_3 = helm_render.render(landed, helm=helm_render.helm3_binary())

    def canonical(objects):
        return sorted(json.dumps(r.obj, sort_keys=True) for r in objects)

    helm_4, helm_3 = canonical(rendered), canonical(with_helm_3)
    differences = sorted(set(helm_4) ^ set(helm_3))
    print(f"Helm 3 vs Helm 4: {len(helm_3)} and {len(helm_4)} objects, {len(differences)} differences")
    assert len(helm_3) == len(helm_4) and differences == [], differences[:3]


def test_each_namespace_is_held_to_the_strictest_pod_security_level_its_pods_meet(rendered):
    """Pod Security Admission labels on every namespace the stack makes, checked against the
    Pod Security Standards on the rendered pods (tests/cluster_model.py)."""
    namespaces = {name: o for name, o in by_kind(rendered, "Namespace").items()}
    by_namespace: dict[str, list] = {}
    for workload in helm_render.workloads(rendered):
        by_namespace.setdefault(workload.namespace, []).append(workload)
    levels = {}
    for name, namespace in namespaces.items():
        labels = namespace["metadata"]["labels"]
        level = labels["pod-security.kubernetes.io/enforce"]
        pods = [w.pod for w in by_namespace.get(name, [])]
        assert pods, f"namespace {name} runs no pod"
        assert strictest_level(pods) == level, (name, level, {w.name: pod_security_violations(w.pod, level)
                                                             for w in by_namespace[name]})
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        levels[name] = level
    print("Pod Security levels:", levels)
    assert levels["ai"] == "baseline" and levels["gateway"] == "privileged"


CHECKOV = PROJECT_ROOT / ".tools" / "checkov" / "bin" / "checkov"  # scripts/bootstrap.sh pins 3.3.30


def test_checkov_finds_nothing_unexplained(rendered, tmp_path):
    """checkov 3.3.30's Kubernetes checks on every rendered object: the project's own objects
    fail none (what they accept is skipped next to them, with the reason); what fails in
    the third-party charts is listed with its reason (tests/checkov_accepted.py), and every
    entry of that list still matches something."""
    import subprocess

    from tests.checkov_accepted import ACCEPTED, reason_for

    origin = {}
    for index, item in enumerate(rendered):
        namespace = item.obj["metadata"].get("namespace") or "default"
        origin[f"{item.kind}.{namespace}.{item.name}"] = "chart" if "/" in item.source else "project"
        (tmp_path / f"{index:03d}.yaml").write_text(yaml.safe_dump(item.obj))
    proc = subprocess.run([str(CHECKOV), "-d", str(tmp_path), "--framework", "kubernetes", "-o", "json",
                           "--skip-download"], capture_output=True, text=True, timeout=600)
    report = json.loads(proc.stdout)
    results, summary = report["results"], report["summary"]
    failed = [(f["resource"], f["check_id"]) for f in results["failed_checks"]]
    skipped = [(f["resource"], f["check_id"]) for f in results.get("skipped_checks", [])]
    assert summary["parsing_errors"] == 0 and summary["resource_count"] >= len(rendered) - 5
    own = [f for f in failed if origin.get(f[0]) != "chart"]
    assert own == [], f"the project's own objects fail checks without a reason: {own}"
    assert all(origin.get(resource) == "project" for resource, _ in skipped)
    unexplained = sorted({f for f in failed if reason_for(*f) is None})
    assert unexplained == [], f"third-party findings without a reason: {unexplained}"
    stale = [(pattern, checks) for pattern, checks, reason in ACCEPTED
             if not any(reason_for(resource, check) == reason and check in checks for resource, check in failed)]
    assert stale == [], f"accepted findings that no longer occur: {stale}"
    print(f"checkov {summary['checkov_version']}: {summary['passed']} passed, {len(own)} failed on the project's "
          f"objects ({len(skipped)} skipped with their reasons), {len(failed)} in third-party charts accepted")
    quoted = re.search(r"checkov 3\.3\.30 on the render: \*\*(\d+) checks passed, 0 failed on the project's "
                       r"objects\*\* \((\d+) skipped next to them with the reason\), (\d+) findings",
                       " ".join(README.read_text().split()))
    assert quoted and tuple(map(int, quoted.groups())) == (summary["passed"], len(skipped), len(failed)), \
        "the README's checkov figures are this scan's"
