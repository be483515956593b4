"""The AI hosting stack as Kubernetes objects, one module per component, each building
its manifests (plain dicts) from the GPU node's settings and the model catalogue. The
ai_stack deploy writes them to k3s's auto-deploy directory."""
