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
