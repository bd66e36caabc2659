"""The route table: every path, method, handler and the microversion it appeared in.

One place to read the whole API surface, as in Placement's own route table. A path that
exists but not at the request's microversion answers 404, exactly like Placement.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from berth.api import openapi
from berth.api.handlers import (
    aggregate_metadata,
    aggregates,
    allocation_candidates,
    allocations,
    bulk,
    host_capabilities,
    host_stats,
    inventories,
    reshaper,
    resource_classes,
    resource_providers,
    root,
    schedule,
    scheduler_config,
    server_groups,
    topology,
    traits,
    usages,
)
from berth.api.http import Request, Response
from berth.api.state import AppState

Handler = Callable[[Request, AppState], Response]


@dataclass(frozen=True, slots=True)
class Route:
    """One method at one path.

    ``since``: the first microversion serving it; earlier requests get ``early_status``
    (404 as if the path did not exist, or 405 where Placement says so). ``json_only``:
    a GET that answers JSON, so an ``Accept`` header excluding JSON is refused with 406.
    """

    method: str
    handler: Handler
    since: tuple[int, int] = (1, 0)
    early_status: int = 404
    json_only: bool = True


_RP = "/resource_providers/{uuid}"

ROUTES: dict[str, list[Route]] = {
    "/": [Route("GET", root.home, json_only=False)],
    "/resource_providers": [
        Route("GET", resource_providers.list_providers),
        Route("POST", resource_providers.create_provider),
    ],
    _RP: [
        Route("GET", resource_providers.get_provider),
        Route("PUT", resource_providers.update_provider),
        Route("DELETE", resource_providers.delete_provider),
    ],
    _RP + "/inventories": [
        Route("GET", inventories.list_inventories),
        Route("POST", inventories.create_inventory),
        Route("PUT", inventories.set_inventories),
        Route("DELETE", inventories.delete_inventories, since=(1, 5), early_status=405),
    ],
    _RP + "/inventories/{resource_class}": [
        Route("GET", inventories.get_inventory),
        Route("PUT", inventories.update_inventory),
        Route("DELETE", inventories.delete_inventory),
    ],
    _RP + "/usages": [Route("GET", usages.provider_usages)],
    _RP + "/aggregates": [
        Route("GET", aggregates.get_aggregates, since=(1, 1)),
        Route("PUT", aggregates.set_aggregates, since=(1, 1)),
    ],
    _RP + "/allocations": [Route("GET", allocations.provider_allocations)],
    _RP + "/traits": [
        Route("GET", traits.list_provider_traits, since=(1, 6)),
        Route("PUT", traits.set_provider_traits, since=(1, 6)),
        Route("DELETE", traits.delete_provider_traits, since=(1, 6)),
    ],
    "/resource_classes": [
        Route("GET", resource_classes.list_resource_classes, since=(1, 2)),
        Route("POST", resource_classes.create_resource_class, since=(1, 2)),
    ],
    "/resource_classes/{name}": [
        Route("GET", resource_classes.get_resource_class, since=(1, 2)),
        Route("PUT", resource_classes.update_resource_class, since=(1, 2)),
        Route("DELETE", resource_classes.delete_resource_class, since=(1, 2)),
    ],
    "/traits": [Route("GET", traits.list_traits, since=(1, 6))],
    "/traits/{name}": [
        Route("GET", traits.get_trait, since=(1, 6), json_only=False),
        Route("PUT", traits.put_trait, since=(1, 6)),
        Route("DELETE", traits.delete_trait, since=(1, 6)),
    ],
    "/allocations": [Route("POST", allocations.post_allocations, since=(1, 13))],
    "/allocations/{consumer_uuid}": [
        Route("GET", allocations.get_allocations),
        Route("PUT", allocations.put_allocations),
        Route("DELETE", allocations.delete_allocations),
    ],
    "/allocation_candidates": [
        Route("GET", allocation_candidates.list_candidates, since=(1, 10)),
    ],
    "/usages": [Route("GET", usages.usages, since=(1, 9))],
    "/reshaper": [Route("POST", reshaper.reshape, since=(1, 30))],
    # berth extensions: outside Placement's API, served at every microversion.
    "/berth/v1/provider_trees": [Route("POST", bulk.load_provider_trees)],
    "/berth/v1/hosts/{uuid}/topology": [
        Route("GET", topology.get_topology),
        Route("PUT", topology.put_topology),
        Route("DELETE", topology.delete_topology),
    ],
    "/berth/v1/hosts/{uuid}/capabilities": [
        Route("GET", host_capabilities.get_capabilities),
        Route("PUT", host_capabilities.put_capabilities),
        Route("DELETE", host_capabilities.delete_capabilities),
    ],
    # Scheduler state Nova keeps: server groups, aggregate metadata, build results.
    "/berth/v1/server_groups": [
        Route("GET", server_groups.list_groups),
        Route("POST", server_groups.create_group),
    ],
    "/berth/v1/server_groups/{uuid}": [
        Route("GET", server_groups.get_group),
        Route("DELETE", server_groups.delete_group),
    ],
    "/berth/v1/server_groups/{uuid}/members/{consumer_uuid}": [
        Route("DELETE", server_groups.delete_member),
    ],
    "/berth/v1/aggregates/{uuid}/metadata": [
        Route("GET", aggregate_metadata.get_metadata),
        Route("PUT", aggregate_metadata.set_metadata),
        Route("DELETE", aggregate_metadata.delete_metadata),
    ],
    "/berth/v1/hosts/{uuid}/build_results": [Route("POST", host_stats.report_build_result)],
    "/berth/v1/hosts/{uuid}/stats": [Route("GET", host_stats.get_stats)],
    "/berth/v1/schedule": [Route("POST", schedule.schedule)],
    "/berth/v1/scheduler": [Route("GET", scheduler_config.show_config)],
    "/berth/v1/openapi.json": [Route("GET", openapi.show)],
}


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return re.compile(f"^{pattern}$")


COMPILED: list[tuple[re.Pattern[str], list[Route]]] = [
    (_compile(path), routes) for path, routes in ROUTES.items()
]


def match(path: str) -> tuple[list[Route], dict[str, str]] | None:
    """The routes registered at ``path`` and the path parameters, or None."""
    for pattern, routes in COMPILED:
        m = pattern.match(path)
        if m is not None:
            return routes, m.groupdict()
    return None
