"""GET /berth/v1/scheduler: the scheduler configuration this server actually runs with.

An operator who wrote ``--scheduler-config`` (and perhaps ``--scheduler-strategy``) can
check what a running server took from it, without reading its command line: the filters
in the order they run, every weigher's configured and effective multiplier (the
pack/spread switch flips the sign of the RAM, CPU and disk weighers; ``0`` means the
weigher does not run), the strategy, the limits and the PCI alias names::

    {"strategy": "pack", "filters": ["ComputeFilter", ...],
     "weighers": [{"name": "RAMWeigher", "multiplier": 2.0, "effective_multiplier": -2.0}, ...],
     "max_attempts": 6, "default_availability_zone": "nova",
     "io_ops_window_s": 120.0, "pci_aliases": ["a1"]}

Policy ``berth:scheduler:show``: admin or service by default, like scheduling itself.
"""

from __future__ import annotations

from typing import Any

from berth.api.http import Request, Response, json_response
from berth.api.state import AppState
from berth.scheduler.config import SchedulerConfig
from berth.scheduler.registry import WEIGHERS

RULE = "berth:scheduler:show"


def render(config: SchedulerConfig) -> dict[str, Any]:
    return {
        "strategy": config.strategy.value,
        "filters": list(config.filters),
        "weighers": [
            {
                "name": name,
                "multiplier": float(config.weights.get(name, 0.0)),
                "effective_multiplier": config.multiplier(name),
            }
            for name in WEIGHERS
        ],
        "max_attempts": config.max_attempts,
        "default_availability_zone": config.default_availability_zone,
        "io_ops_window_s": config.io_ops_window_s,
        "pci_aliases": sorted(config.pci_aliases),
    }


def show_config(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, RULE)
    return json_response(render(st.scheduler))
