"""The GPU node(s): WSL2 prepared, GPU checked, NVIDIA Container Toolkit, the GPU's figures
for the node exporter, k3s (server, or agent for further nodes), the kubeconfig merged on
this machine, the AI stack written for k3s to install, and last the pins this run
deployed (tasks.py upgrade).

    pyinfra inventory.py deploys/gpu_node.py
"""

from pyinfra.context import host, inventory

from homelab import k3s
from homelab.components.ai_stack import ai_stack, stack_context
from homelab.components.common_base import common_base
from homelab.components.gpu_check import gpu_check
from homelab.components.gpu_metrics import gpu_metrics
from homelab.components.gpu_mode_tools import gpu_mode_tools
from homelab.components.k3s_config import k3s_config
from homelab.components.k3s_install import k3s_install
from homelab.components.kubeconfig import kubeconfig
from homelab.components.model_waker import model_waker
from homelab.components.nvidia_container_toolkit import nvidia_container_toolkit
from homelab.components.pins_record import pins_record
from homelab.components.wsl import wsl

if "gpu_nodes" in host.groups and common_base() and wsl() and gpu_check():
    nvidia_container_toolkit()
    gpu_metrics()
    config_changes = k3s_config()  # None: refused (a cluster this machine's secrets store does not know)
    if config_changes is not None and k3s_install(config_changes=config_changes):
        if k3s.role(host) == "server":
            kubeconfig()
            stack = stack_context(host, inventory)
            ai_stack(stack)
            gpu_mode_tools(stack)
            model_waker(stack)
        pins_record()
