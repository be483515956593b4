# The two commands a newcomer needs; each sets up what it needs first.
#   make lab    bring the simulated lab up and deploy the whole site to it
#   make test   run the test suite (brings the lab up and down itself)
.PHONY: lab test lab-down

lab:
	scripts/bootstrap.sh
	.venv/bin/python tasks.py lab up
	.venv/bin/pyinfra -y .lab/inventory.py deploys/site.py

test:
	scripts/bootstrap.sh
	.venv/bin/pytest

lab-down:
	.venv/bin/python tasks.py lab down
