"""What checkov 3.3.30 flags in the rendered objects of third-party charts, and why it stays.

The project's own objects (gateway, LiteLLM, prefetch Jobs, policies, ...) carry their
accepted findings next to them, as checkov's skip annotations with the reason
(homelab/stack/*.py: `checkov_skips`). Objects rendered from the pinned charts cannot carry
annotations of ours; what could be fixed through their values was (security contexts,
probes, service-account tokens where the pod does not talk to the API server), and this is
the rest. tests/components/test_cluster_render.py holds the scan to this list both ways: a
finding not listed fails, and so does an entry nothing matches any more.
"""

from fnmatch import fnmatch

ENGINES = "Deployment.ai.vllm-*-deployment-vllm"
ROUTER = "Deployment.ai.vllm-deployment-router"
DEVICE_PLUGIN = "DaemonSet.nvidia-device-plugin.nvidia-device-plugin*"

# (resource pattern, checks, reason)
ACCEPTED: list[tuple[str, tuple[str, ...], str]] = [
    ("*", ("CKV_K8S_43",), "images are pinned by tag in group data; a digest needs the registry, which the project's "
                           "own machines may not reach (the air-gap install loads image archives)"),
    ("*", ("CKV_K8S_15",), "imagePullPolicy IfNotPresent on purpose: tags are pinned, and the air-gap install "
                           "pre-loads the images into k3s"),
    (ENGINES, ("CKV_K8S_23", "CKV_K8S_40"),
     "vLLM's image runs as root and the GPU's device nodes on WSL2 are not proven here for another user (no GPU "
     "in the lab); the engines run with every capability dropped, no privilege escalation, a read-only root"),
    (ENGINES, ("CKV_K8S_38",),
     "the chart cannot set automountServiceAccountToken on the pod; the engines' ServiceAccount (vllm-engine) has "
     "it false, so no token is mounted"),
    (f"{ENGINES}|{ROUTER}", ("CKV_K8S_35",), "vllm-stack 0.1.12 passes the vLLM API key as an environment variable"),
    (ROUTER, ("CKV_K8S_38",), "the router finds the engines' pods through the API server (pod-ip discovery): it "
                              "needs its token"),
    ("StatefulSet.ai.open-webui", ("CKV_K8S_23", "CKV_K8S_40"),
     "Open WebUI's image runs as root (its Dockerfile's UID=0; upstream calls other users untested) and its data "
     "volume holds root's files; every capability is dropped"),
    ("StatefulSet.ai.open-webui", ("CKV_K8S_22",),
     "at start Open WebUI copies its front end into its own package directory; a read-only root is not proven "
     "harmless here"),
    ("StatefulSet.ai.open-webui", ("CKV_K8S_35",), "the open-webui chart passes the OpenAI key (LiteLLM's key for "
                                                   "Open WebUI) as an environment variable"),
    ("Deployment.monitoring.kube-prometheus-stack-grafana", ("CKV_K8S_8", "CKV_K8S_9"),
     "the chart's sidecars and its dashboard download have no probes; Grafana itself has both"),
    ("Deployment.monitoring.kube-prometheus-stack-grafana", ("CKV_K8S_22",),
     "the chart's dashboard download writes into its own image's paths (readOnlyRootFilesystem false by default)"),
    ("Deployment.monitoring.kube-prometheus-stack-grafana", ("CKV_K8S_35", "CKV_K8S_40"),
     "the chart passes the admin password as an environment variable and runs Grafana as its image's user 472"),
    ("Deployment.monitoring.kube-prometheus-stack-*", ("CKV_K8S_38",),
     "Grafana's sidecars, kube-state-metrics and the Prometheus operator read the API server: they need the token"),
    ("ClusterRoleBinding.default.kube-prometheus-stack-grafana-clusterrolebinding", ("CKV2_K8S_5",),
     "Grafana's sidecar watches ConfigMaps and Secrets in every namespace for dashboards and datasources (vLLM's "
     "dashboards live in the stack's namespace)"),
    ("ClusterRole.default.kube-prometheus-stack-operator", ("CKV_K8S_49",),
     "the Prometheus operator manages its own custom resources with a wildcard, as its chart grants"),
    ("DaemonSet.monitoring.kube-prometheus-stack-prometheus-node-exporter", ("CKV_K8S_17", "CKV_K8S_19"),
     "the node exporter reports the node itself: its network and its processes (the chart's hostNetwork, hostPID)"),
    (DEVICE_PLUGIN, ("CKV_K8S_16", "CKV_K8S_17", "CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_25",
                     "CKV_K8S_28", "CKV_K8S_30", "CKV_K8S_31", "CKV_K8S_37", "CKV_K8S_39", "CKV_K8S_40"),
     "NVIDIA's device plugin and its MPS daemon run privileged (SYS_ADMIN, host PID for MPS) to see the GPU and "
     "serve the kubelet's device-plugin socket (chart 0.20.0's own settings); it runs no model and takes no "
     "request from the network"),
    (DEVICE_PLUGIN, ("CKV_K8S_8", "CKV_K8S_9"), "NVIDIA's chart defines no probes for the plugin"),
    (DEVICE_PLUGIN, ("CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"),
     "the chart's sidecars take no resources in values; the namespace's LimitRange gives them requests and limits "
     "(checkov does not read LimitRanges)"),
    (DEVICE_PLUGIN, ("CKV_K8S_38",), "the plugin's config manager reads its node's labels from the API server"),
]


def reason_for(resource: str, check: str) -> str | None:
    for pattern, checks, reason in ACCEPTED:
        if check in checks and any(fnmatch(resource, p) for p in pattern.split("|")):
            return reason
    return None
