# The two commands a newcomer needs; each sets up what it needs first.
#   make lab    bring the simulated lab up and deploy the whole site to it
#   make test   the static checks, then the test suite (brings the lab up and down itself)
.PHONY: lab test check lab-down

lab:
	scripts/bootstrap.sh
	.venv/bin/python tasks.py lab up
	.venv/bin/pyinfra -y .lab/inventory.py deploys/site.py

test: check
	.venv/bin/pytest

# The hosts' Python tools (as in pyproject.toml's [tool.mypy] files): mypy checks them with
# the rest under 3.11 (bookworm's python3), then once more under 3.10 (Ubuntu 22.04's).
HOST_TOOLS = files/gpu_mode/homelab-gpu files/gpu_mode/homelab-waker files/wake/homelab-wake \
             files/watcher/homelab-alerts files/gpu_metrics/homelab-gpu-metrics

# ruff on everything, mypy strict on what pyproject.toml's [tool.mypy] files lists
check:
	scripts/bootstrap.sh
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/mypy --python-version 3.10 $(HOST_TOOLS)

lab-down:
	.venv/bin/python tasks.py lab down
