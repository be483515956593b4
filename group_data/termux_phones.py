"""Android phones with Termux: client configuration over SSH."""

# Termux's sshd listens on 8022 (it cannot bind ports below 1024 without root).
ssh_port = 8022

# The model the phone's CLI uses when none is named (must be in the catalogue).
default_model = "mistral-7b-instruct"

# Installed with Termux's own package manager: python runs the widgets, aichat is the CLI.
termux_packages = ["python", "curl", "aichat"]

# Phones the inventory marks `owner_device: True` (in their entry in inventory.py) get
# widgets to pause and resume the AI side for a game, with a key that can do exactly that.
owner_device = False

# What the device may use of the lab, as a tenant of the gateway: requests and tokens per
# minute, requests at once, and token quotas per UTC day and month. A positive whole number,
# or None for no limit. Override any of them in a device's entry in inventory.py
# (e.g. {"api_tokens_per_day": 500000}). Over a limit, the device gets a 429 that says which
# limit and when it frees up; `python tasks.py usage` shows what each device used.
api_requests_per_minute = 20
api_tokens_per_minute = 20000
api_concurrent_requests = 2
api_tokens_per_day = 200000
api_tokens_per_month = 2000000
