"""The GPU node(s): WSL2 Ubuntu 22.04 with the NVIDIA Container Toolkit, k3s and the
serving stack. The first host in the group is the k3s server, others join as agents."""

# Run operations with sudo: WSL's default user is not root.
_sudo = True

# --- WSL2 --------------------------------------------------------------------------
# None: detect WSL2 from the kernel release ("microsoft"). True/False overrides that,
# e.g. for a self-built WSL kernel whose release string does not say "microsoft".
wsl = None
# The WSL distribution's name on Windows (`wsl -l -v`), used by the Windows script.
wsl_distribution = "Ubuntu-22.04"
# The Windows user's profile folder as WSL sees it, where .wslconfig lives, e.g.
# "/mnt/c/Users/owner". None: the one user folder under /mnt/c/Users (the deploy asks
# you to set it when there are several).
windows_profile_dir = None

# --- The PC's memory and CPU, shared by Windows (and its games) and WSL ------------------
# What the PC has (Task Manager > Performance: memory in GB, "logical processors").
pc_memory_gib = 32
pc_threads = 16
# What Windows keeps for itself and a game while the AI side runs. The RAM and CPU plan
# (`python tasks.py plan`) sums every pod's requests plus k3s, and sets WSL's `memory`
# and `processors` in .wslconfig from it; a stack that does not fit next to these stops
# the run before any host is touched.
windows_memory_gib = 6
windows_threads = 4
# Memory WSL needs besides the pods: its kernel and page cache, systemd, sshd and k3s
# itself (k3s documents 2 GB for a server with its workloads; the pods are counted apart).
wsl_system_memory_gib = 1.5
# WSL's swap file in GiB (.wslconfig `swap`). Pods run without swap (the kubelet's
# default); it gives WSL's own processes room when the page cache is tight.
wsl_swap_gib = 2

# --- Game mode: the PC is also the owner's gaming machine --------------------------------
# `python tasks.py gpu pause|resume|status`, "Pause AI"/"Resume AI" on the PC's desktop and
# the owner's phone widgets lend the GPU to a game and take it back. Pausing scales the
# vLLM engines to zero: once their pods are gone the GPU's memory is free, and their RAM.
# vLLM v0.11.1's sleep mode (POST /sleep, /wake_up; proxied by the vllm-stack 0.1.12
# router) was weighed and left out: it needs VLLM_SERVER_DEV_MODE=1, which opens vLLM's
# development endpoints too; it relies on CUDA's virtual memory API, with open reports
# about it under WSL2 at NVIDIA;
# and its level 1 keeps the weights in WSL's memory, which the game needs as well. While
# paused, the gateway answers every API call at once with a 503 that says why.
#
# Games whose start pauses the AI side and whose end resumes it (a watcher on Windows,
# started at logon; empty: no watcher), e.g. ["eldenring.exe", "Cyberpunk2077.exe"].
game_executables: list[str] = []
# How often the watcher looks at the running programs, in seconds.
game_watch_seconds = 10
# wol_mac (per PC, in inventory.py): the wired network card's MAC for Wake-on-LAN, sent
# by the Le Potato (`python tasks.py wake`). None: the PC is not woken.

# --- NVIDIA Container Toolkit (from NVIDIA's apt repository) -------------------------
# All four packages (nvidia-container-toolkit, -base, libnvidia-container-tools,
# libnvidia-container1) are held at this version.
nvidia_toolkit_version = "1.18.1-1"
# The repository (without the architecture) and its signing key, checked by sha256.
nvidia_toolkit_repo_url = "https://nvidia.github.io/libnvidia-container/stable/deb"
nvidia_toolkit_key_url = "https://nvidia.github.io/libnvidia-container/gpgkey"
nvidia_toolkit_key_sha256 = "c880576d6cf75a48e5027a871bac70fd0421ab07d2b55f30877b21f1c87959c9"

# --- k3s -----------------------------------------------------------------------------
# The k3s release, and the sha256 of its binary and air-gap images per architecture
# (from the release's sha256sum-<arch>.txt).
k3s_version = "v1.34.2+k3s1"
k3s_sha256 = {
    "amd64": "15811d34187e03fe29d0e46108c42cc33e62cec1b3d9d80f50944536ebcad40a",
    "arm64": "2e1db0e54a8b0d0ab8a264a119c9c617561f9290e7bb2722d795f8bc91b24cf8",
}
k3s_airgap_images_sha256 = {
    "amd64": "24359781bd775f513691e98031853d79eac53e265f7d72d1e7325df4f3b18eb0",
    "arm64": "41b34aab92bc5166135dc73217ead65766688fd3543166ce32ffff7e101bef46",
}
# Where the binary is downloaded from (a mirror serving the same file names works).
k3s_release_url = "https://github.com/k3s-io/k3s/releases/download"
# Offline install: a directory on the control machine holding this release's `k3s`
# (or `k3s-arm64`) and `k3s-airgap-images-<arch>.tar.zst`. None: download.
k3s_artifacts_dir = None
# Port of the Kubernetes API.
k3s_api_port = 6443
# Packaged components k3s should not run: the lab has its own gateway (Caddy) and
# needs no service load balancer.
k3s_disable = ["traefik", "servicelb"]
# Mode of /etc/rancher/k3s/k3s.yaml (it holds the cluster admin's key).
k3s_write_kubeconfig_mode = "0600"
# Extra names/addresses for the API certificate; the node's name and lan_address are
# always included.
k3s_extra_tls_san: list[str] = []
# The pods' network (k3s's default). Only pods and the nodes may read the gateway's
# metrics listener.
k3s_cluster_cidr = "10.42.0.0/16"

# --- The gateway (Caddy) ---------------------------------------------------------------
# The lab's one API door: http(s)://<gpu node>:<gateway_port>/v1
gateway_port = 8080
# Client addresses the gateway accepts (networks or single addresses); others get 403.
gateway_allowlist = ["192.168.1.0/24"]
# HTTPS with Caddy's own CA (the iPad's home-screen app needs it). Its root certificate
# is fetched to <client_files_dir>/<gpu node>/gateway-root-ca.crt for the client profiles.
gateway_tls = False
# Open WebUI's port on the gateway (same allowlist; Open WebUI has its own login).
open_webui_port = 8081
# Largest request body accepted (long prompts, images for CLIP as data: URLs), in MiB. The
# door in LiteLLM's pod parses each body whole (its memory is planned for 8).
gateway_body_limit_mb = 8
# How long one request may take (long generations stream for minutes), in minutes.
gateway_timeout_minutes = 15
# Caddy's own metrics (requests, latencies per status) for Prometheus, on an internal
# listener that answers only pods and the GPU nodes (Caddy's admin API, which would
# serve them otherwise, is off). Keep it out of the Windows firewall rules.
gateway_metrics_port = 9180
# Caddy's image: 2.11.2, the newest release in Caddy's official image list (caddyserver/
# caddy-docker 03d78cd "Caddy v2.11.2", library/caddy: "Tags: 2.11.2-alpine"); after the
# HTTP/2 rapid-reset fix (2.7.5) and with `request_header -*` (2.7). The tests run Caddy
# 2.11 (scripts/caddy-requirements.txt) on the very Caddyfile the cluster runs.
caddy_image = "caddy:2.11.2-alpine"

# --- The AI stack on k3s (written to k3s's auto-deploy directory on the server) -------
# Namespace of the serving stack (vLLM, LiteLLM, the gateway, Open WebUI, model cache).
stack_namespace = "ai"
# Namespace of Prometheus and Grafana.
monitoring_namespace = "monitoring"
# Namespace of the gateway alone: it binds the node's port (hostNetwork) and keeps its CA on
# the node's disk (hostPath), so Pod Security Admission must allow its pods what no other
# pod of the stack may do.
gateway_namespace = "gateway"
# GPU memory of the card, and what to leave free for Windows' desktop and the driver.
gpu_vram_gib = 12.0
gpu_vram_headroom_gib = 1.0
# The model cache: a directory on the node (hostPath) every model is downloaded into
# once, and the size of its PersistentVolume.
model_cache_path = "/mnt/models"
model_cache_size_gib = 100
# Chart versions (Helm releases installed by k3s's Helm controller).
device_plugin_chart_version = "0.20.0"
vllm_stack_chart_version = "0.1.12"
kube_prometheus_stack_chart_version = "88.5.3"
open_webui_chart_version = "16.0.0"
# Container images, by tag. One vLLM for every engine: v0.11.1 is the first release that
# serves CLIP embeddings (vllm-project/vllm PR #26010; v0.11.0 has no CLIPEmbeddingModel),
# and its image carries LMCache (the release pipeline builds with INSTALL_KV_CONNECTORS=true,
# docker/Dockerfile installs requirements/kv_connectors.txt), so the chat model's LMCache
# offload runs on this same vLLM. lmcache/vllm-openai images are not used: they install
# whatever vLLM was newest when they were built (LMCache docker/Dockerfile, image-release).
# The lmcache package inside vLLM's image is the one PyPI had at its build (unpinned upstream).
vllm_image = "vllm/vllm-openai:v0.11.1"
vllm_router_image = "lmcache/lmstack-router:v0.1.12"
litellm_image = "ghcr.io/berriai/litellm:main-v1.80.8-stable.1"
# How vLLM's router spreads requests over engines: roundrobin, session, prefixaware, kvaware.
router_routing_logic = "prefixaware"
# Engines sharing a GPU start one after another (vLLM measures free GPU memory while it
# starts): each waits for the previous one's /health, at most this long, so that one
# engine that cannot start never keeps the others from starting.
engine_start_wait_seconds = 600
# Components that can be switched off; switching one off removes it from the cluster
# on the next run.
monitoring_enabled = True
open_webui_enabled = True
# Open WebUI's admin login, made when it first starts (signup stays off, so nobody else
# becomes admin). Its password is `open_webui_admin_password` in the secrets store:
# `python tasks.py secrets show open_webui_admin_password`.
open_webui_admin_email = "owner@homelab.home.arpa"
# Open WebUI is a tenant of its own (all its users together; see group_data/termux_phones.py
# for what each limit means; None: no limit). Document search sends its embeddings in
# batches (32 chunks a request, 2 at once).
open_webui_requests_per_minute = 60
open_webui_tokens_per_minute = 100000
open_webui_concurrent_requests = 4
open_webui_tokens_per_day = None
open_webui_tokens_per_month = None
# When the usage store (the file token quotas are counted in) cannot be used: "open" lets
# requests through and doctor warns; "closed" refuses them until it works again.
quota_store_failure = "open"
# llm-d's router (Gateway API Inference Extension "standalone" chart) in front of the
# chat model: an optional profile, off by default. It needs GAIE's CRDs, downloaded from
# GitHub and checked against llm_d_crds_sha256 (set it when you switch llm-d on).
llm_d_enabled = False
llm_d_chart_version = "v1.5.0"
llm_d_crds_url = "https://github.com/kubernetes-sigs/gateway-api-inference-extension/releases/download/v1.5.0/manifests.yaml"
llm_d_crds_sha256 = None
# Prometheus keeps metrics this long.
prometheus_retention = "15d"
# How often homelab-gpu-metrics asks nvidia-smi for the GPU's figures (seconds).
gpu_metrics_interval_seconds = 5
# Models on demand (idle_minutes in the catalogue): homelab-waker on the k3s server loads
# an unloaded model when a request asks for it. The request is held this long while the
# engine starts; past it the client gets a 503 model_starting with Retry-After.
wake_timeout_seconds = 120
# Where the waker listens (the server's LAN address; only the door in LiteLLM's pod,
# with the waker's token, is answered) and how often it checks for idle engines.
waker_port = 8099
waker_check_seconds = 15
