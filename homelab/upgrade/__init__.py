"""`python tasks.py upgrade plan | apply`: what a change of pins would do to the GPU nodes,
and doing it with a backup before and a way back after.

- deployed.py reads what the hosts run (k3s and toolkit versions, the manifests k3s has,
  the pins the last deploy recorded), in one SSH call per GPU node;
- plan.py compares that with what group data pins: objects, fields, images, CRDs,
  restarts, and what is risky or refused (k3s skew);
- apply.py backs up, deploys (server first when k3s moves), waits for the releases, runs
  the smoke test, and deploys the recorded pins again when a check fails.
"""
