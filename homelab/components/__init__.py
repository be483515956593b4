"""One module per component, each with one entry @deploy. Device deploys in deploys/
compose them."""

from collections.abc import Callable
from typing import ParamSpec, TypeVar, cast

from pyinfra.api.deploy import deploy as pyinfra_deploy

P = ParamSpec("P")
R = TypeVar("R")


def deploy(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """pyinfra's @deploy, typed as it behaves: called with the component's own arguments,
    it returns what the component returns (pyinfra's type says OperationMeta, and puts its
    global arguments first, so `ai_stack(stack)` would be checked as `_sudo=stack`).

    **Example:**

    .. code:: python

        @deploy("Node exporter")
        def node_exporter() -> bool:
            ...
    """
    def decorate(component: Callable[P, R]) -> Callable[P, R]:
        return cast("Callable[P, R]", pyinfra_deploy(name)(component))
    return decorate
