"""The Le Potato: node exporter and the apt cache for the lab."""

# Run operations with sudo (Armbian's first-login wizard creates a sudo user).
_sudo = True
