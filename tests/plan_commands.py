"""Print, as JSON, the commands a deploy would run on one host: {"operation": [command, ...]}.

    python tests/plan_commands.py INVENTORY DEPLOY_FILE HOST

For steps that cannot run here (NVIDIA's and k3s's real download servers), tests check
from this plan that the right commands, URLs, versions and checksums would run. It
prepares the deploy the way `pyinfra --dry` does (connect, gather facts, plan) against
the real lab host, and executes nothing.
"""

import json
import os
import sys

import pyinfra
from pyinfra.api.config import Config
from pyinfra.api.connect import connect_all
from pyinfra.api.state import State, StateStage
from pyinfra.context import ctx_config, ctx_host, ctx_inventory, ctx_state
from pyinfra_cli.inventory import make_inventory
from pyinfra_cli.util import load_deploy_file


def plan(inventory_file: str, deploy_file: str, host_name: str) -> dict[str, list[str]]:
    pyinfra.is_cli = True
    state = State(check_for_changes=True)
    state.cwd = os.getcwd()
    ctx_state.set(state)
    config = Config()
    ctx_config.set(config)
    inventory = make_inventory(inventory_file, cwd=state.cwd)
    ctx_inventory.set(inventory)
    state.init(inventory, config, initial_limit=[inventory.get_host(host_name)])
    state.set_stage(StateStage.Connect)
    connect_all(state)
    state.set_stage(StateStage.Prepare)
    load_deploy_file(state, deploy_file)
    host = inventory.get_host(host_name)
    planned = {}
    for op_hash in state.get_op_order():
        if op_hash not in state.ops[host]:
            continue
        name = ", ".join(sorted(state.op_meta[op_hash].names))
        with ctx_host.use(host):
            commands = state.get_op_data_for_host(host, op_hash).command_generator()
            planned[name] = [str(command) for command in commands]
    return planned


if __name__ == "__main__":
    print(json.dumps(plan(*sys.argv[1:4]), indent=1))
