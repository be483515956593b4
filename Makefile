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

# ruff on everything, mypy strict on homelab/ (settings in pyproject.toml)
check:
	scripts/bootstrap.sh
	.venv/bin/ruff check .
	.venv/bin/mypy

lab-down:
	.venv/bin/python tasks.py lab down
