"""The GPU node(s): WSL2 Ubuntu 22.04 with k3s and the serving stack."""

# Run operations with sudo: WSL's default user is not root.
_sudo = True
