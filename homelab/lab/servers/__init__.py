"""STAND-IN servers the simulated lab runs as programs of their own (each file a script,
started by homelab/lab/gateway.py): vLLM, a service no client may reach, a clock."""
