"""Site-wide settings: every host gets these.

Each key is explained once, here. Types are checked by homelab/settings.py before any
host is touched.
"""

# Name of this site: used in labels, file headers and the kubeconfig context name.
site_name = "homelab"

# SSH host keys are checked against ~/.ssh/known_hosts and a device whose key is not
# there is refused: pin each one first (connect once with `ssh`, compare the
# fingerprint with the device's). "accept-new" would pin on first use instead.
ssh_strict_host_key_checking = "yes"

# Timezone of every managed Linux host (a name from /usr/share/zoneinfo).
timezone = "Europe/Berlin"

# The secrets store on the control machine: a YAML file, mode 0600, gitignored, created
# on first use. Relative paths are relative to the directory pyinfra runs in.
secrets_file = ".secrets/secrets.yaml"

# apt on every managed Debian-like host fetches through this proxy, e.g. the Le Potato's
# apt-cacher-ng: "http://192.168.1.60:3142". None: apt fetches directly.
apt_proxy_url = None

# The model catalogue: the one list that vLLM, LiteLLM, the model prefetch jobs and the
# clients are generated from. Adding a model is adding an entry.
#   name:           the model's name in the OpenAI API (lowercase, digits, '-')
#   hf_repo:        the Hugging Face repository it is downloaded from
#   revision:       the repository commit to download (pinned)
#   kind:           completion (no chat template of its own), chat, or embedding
#   inputs:         what it embeds or reads: ["text"] or ["text", "image"]
#   dtype:          vLLM's --dtype
#   weights_gib:    GPU memory of the weights
#   kv_layers, kv_heads, head_dim: the attention shape that sets the KV cache size per
#                   token (2 x layers x kv_heads x head_dim x 2 bytes); None for
#                   encoder-only (embedding) models, which keep no KV cache
#   max_model_len:  the longest context served
#   max_num_seqs:   how many sequences run at once (KV cache is sized for all of them)
#   overhead_gib:   CUDA context, activations and CUDA graphs on top
#   chat_template:  a file in files/chat_templates/ for models without their own
#   lmcache_cpu_gib: LMCache CPU offload buffer for the KV cache, in WSL's RAM (0: off).
#                   LMCache pins this buffer (cudaHostAlloc) and CUDA on WSL limits pinned
#                   memory: a 5 GB pinned buffer failed in LMCache's tracker (LMCache#1063,
#                   fixed by going below 2 GB), and inside NVIDIA-toolkit containers on
#                   WSL2 pinned allocations fail above 500 MB (microsoft/WSL#14078): hence
#                   0.4. Raise it only after checking on the PC that the engine starts.
#                   (Set through LMCache's own variables: the vllm-stack chart turns its
#                   CPU tier on only for a whole number of GB.)
#   weight_files:   the weights' file names or patterns in the repository at `revision`
#                   (default ["*.safetensors"]); the prefetch fails unless each matches
#   host_memory_gib: WSL RAM of the engine's processes besides the LMCache buffer (an
#                   estimate: check with `kubectl top pods -n ai` on the PC and adjust);
#                   requested and capped, counted by the RAM plan (`python tasks.py plan`)
#   cpu, cpu_limit: CPU cores the engine requests and may use (default 1 and 4)
#   gpu_node:       the GPU node (inventory name) that serves it; default the k3s server
#   enabled:        False keeps the entry but serves nothing
#   idle_minutes:   unloaded after this many minutes with no request (nothing in flight),
#                   loaded again by the next request; None (the default): always loaded.
#                   The small embedding model stays (Open WebUI's documents use it often)
models = [
    {
        "name": "gpt2",
        "hf_repo": "openai-community/gpt2",
        "revision": "607a30d783dfa663caf39e06633721c8d4cfcd7e",
        "kind": "completion",
        "weights_gib": 0.25,
        "kv_layers": 12, "kv_heads": 12, "head_dim": 64,
        "max_model_len": 1024,
        "max_num_seqs": 8,
        "overhead_gib": 0.75,
        "chat_template": "plain-dialogue.jinja",
        "host_memory_gib": 3.0,
        "idle_minutes": 15,
    },
    {
        "name": "mistral-7b-instruct",
        "hf_repo": "TheBloke/Mistral-7B-Instruct-v0.2-GPTQ",
        "revision": "7532d6bc89ef9300fb39d2d94ed4414ec534b72a",
        "kind": "chat",
        "weights_gib": 4.2,
        "kv_layers": 32, "kv_heads": 8, "head_dim": 128,
        "max_model_len": 8192,
        "max_num_seqs": 2,
        "overhead_gib": 1.0,
        "lmcache_cpu_gib": 0.4,
        "host_memory_gib": 5.0,
        "idle_minutes": 30,
    },
    {
        "name": "all-minilm-l6-v2",
        "hf_repo": "sentence-transformers/all-MiniLM-L6-v2",
        "revision": "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
        "kind": "embedding",
        "weights_gib": 0.05,
        "max_model_len": 256,
        "max_num_seqs": 32,
        "overhead_gib": 0.5,
        "host_memory_gib": 2.5,
    },
    {
        "name": "clip-vit-b-32",
        "hf_repo": "openai/clip-vit-base-patch32",
        "revision": "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268",
        "kind": "embedding",
        "inputs": ["text", "image"],
        "weights_gib": 0.3,
        "max_model_len": 77,
        "max_num_seqs": 16,
        "overhead_gib": 0.6,
        # this revision holds pytorch_model.bin only (safetensors exist on a pull-request
        # ref, not on main); vLLM loads .bin when there are no safetensors
        "weight_files": ["pytorch_model.bin"],
        "host_memory_gib": 3.0,
        "idle_minutes": 30,
    },
]

# Away from home (README "Away from home"): a WireGuard endpoint on the Le Potato that
# phones, iPads and the MacBook reach through the router. The name or public address the
# internet reaches your router at (a DynDNS name, say); None: no tunnel.
wireguard_endpoint = None
# The UDP port the router forwards to the Le Potato (the same port on the board).
wireguard_port = 51820
# The tunnel's own addresses: the board takes the first, each device one of the next for
# good. A private network that overlaps neither your LAN nor a network you visit.
wireguard_subnet = "10.99.0.0/24"
# Besides the gateway and Open WebUI, what the tunnel may reach on the LAN:
# "<address>:<port>" each, reached at the board's tunnel address on the same port.
wireguard_lan_access: list[str] = []

# Paths on the control machine (the MacBook). Relative paths are relative to the
# directory pyinfra runs in.
# Files rendered for devices and people: Windows scripts, iPad profiles, QR codes.
client_files_dir = "build"
# The kubeconfig the GPU node's cluster is merged into, as context "<site_name>-<node>".
kubeconfig_path = "~/.kube/config"
