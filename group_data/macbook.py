"""The MacBook: the control machine that runs pyinfra, and an API client itself."""

# The model the MacBook's CLI uses when none is named (must be in the catalogue).
default_model = "mistral-7b-instruct"
# Home directory the MacBook's client files go to (~/.config/homelab, ~/.config/aichat).
client_home = "~"
