"""Site-wide settings: every host gets these.

Each key is explained once, here. Types are checked by homelab/settings.py before any
host is touched.
"""

# Name of this site: used in labels, file headers and the kubeconfig context name.
site_name = "homelab"

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
#   name:     the model's name in the OpenAI API (lowercase, digits, '-')
#   hf_repo:  the Hugging Face repository it is downloaded from
#   revision: the repository revision (branch, tag or commit) to download
#   kind:     completion (no chat template), chat, or embedding
models = [
    {"name": "gpt2", "hf_repo": "openai-community/gpt2", "revision": "main", "kind": "completion"},
    {
        "name": "mistral-7b-instruct",
        "hf_repo": "TheBloke/Mistral-7B-Instruct-v0.2-GPTQ",
        "revision": "main",
        "kind": "chat",
    },
    {
        "name": "all-minilm-l6-v2",
        "hf_repo": "sentence-transformers/all-MiniLM-L6-v2",
        "revision": "main",
        "kind": "embedding",
    },
    {"name": "clip-vit-b-32", "hf_repo": "openai/clip-vit-base-patch32", "revision": "main", "kind": "embedding"},
]

# Paths on the control machine (the MacBook). Relative paths are relative to the
# directory pyinfra runs in.
# Files rendered for devices and people: Windows scripts, iPad profiles, QR codes.
client_files_dir = "build"
# The kubeconfig the GPU node's cluster is merged into, as context "<site_name>-<node>".
kubeconfig_path = "~/.kube/config"
