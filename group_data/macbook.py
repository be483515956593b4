"""The MacBook: the control machine that runs pyinfra, and an API client itself."""

# The model the MacBook's CLI uses when none is named (must be in the catalogue).
default_model = "mistral-7b-instruct"
# Home directory the MacBook's client files go to (~/.config/homelab, ~/.config/aichat).
client_home = "~"

# What the MacBook may use of the lab as a tenant of the gateway (see group_data/
# termux_phones.py for what each limit means; None: no limit). The owner's own machine:
# generous, no quotas.
api_requests_per_minute = 60
api_tokens_per_minute = 60000
api_concurrent_requests = 4
api_tokens_per_day = None
api_tokens_per_month = None
