"""The OpenAPI 3.1 document of berth's own API (``/berth/v1/...``), built from the code.

Placement's API is documented by Placement's api-ref; berth's extensions (the scheduler,
host topology and capabilities, server groups, aggregate metadata, build results, bulk
load) are documented here. The request bodies are the very JSON schemas the handlers
validate with (``berth.api.schemas``), so the document cannot drift from what the server
accepts; a test checks that every ``/berth/v1`` route is documented and every documented
path is routed.
Served at ``GET /berth/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from berth.api.http import Request, Response, json_response
from berth.api.schemas import (
    aggregate_metadata,
    bulk,
    host_capabilities,
    host_stats,
    schedule,
    server_groups,
)
from berth.api.schemas import topology as topology_schema
from berth.api.state import AppState

_ERROR = {
    "type": "object",
    "description": "Placement's error format.",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "status": {"type": "integer"},
                    "title": {"type": "string"},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                    "request_id": {"type": "string"},
                },
            },
        }
    },
}

_EXPLANATION = {
    "type": "object",
    "description": "Why hosts were not chosen: per stage and reason, and per named host.",
    "properties": {
        "summary": {"type": "string", "examples": ["0/10,000 hosts: 7,210 insufficient MEMORY_MB"]},
        "hosts_total": {"type": "integer"},
        "chosen": {"type": "array", "items": {"type": "string"}},
        "stages": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "stage": {"type": "string"},
                    "removed": {"type": "integer"},
                    "reasons": {"type": "object", "additionalProperties": {"type": "integer"}},
                },
            },
        },
        "hosts": {
            "type": "object",
            "description": "For each host in explain_hosts: every reason from every stage.",
            "additionalProperties": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "stage": {"type": "string"},
                        "reason": {"type": "string"},
                        "detail": {"type": "string"},
                    },
                },
            },
        },
        "failed_instance": {"type": "integer"},
        "lost_races": {"type": "array", "items": {"type": "string"}},
    },
}

_PLACEMENT = {
    "type": "object",
    "properties": {
        "instance_uuid": {"type": "string", "format": "uuid"},
        "host": {
            "type": "object",
            "properties": {"uuid": {"type": "string"}, "name": {"type": "string"}},
        },
        "allocations": {
            "type": "object",
            "description": "provider uuid -> {resources: {class: amount}}, as claimed.",
        },
        "score": {"type": "number"},
        "numa": {
            "type": "object",
            "description": "For NUMA/pinned guests: each guest cell's host cell, the "
            "guest CPU -> host CPU pinning, reserved CPUs, page size and count.",
        },
        "devices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"request": {"type": "string"}, "address": {"type": "string"}},
            },
        },
    },
}

_SCHEDULE_ANSWER = {
    "type": "object",
    "properties": {
        "placed": {"type": "boolean"},
        "claimed": {"type": "boolean"},
        "dry_run": {"type": "boolean"},
        "attempts": {"type": "integer"},
        "placements": {"type": "array", "items": _PLACEMENT},
        "explanation": _EXPLANATION,
    },
}


_SCHEDULER_CONFIG = {
    "type": "object",
    "description": "The scheduler configuration the server runs with (--scheduler-config, "
    "--scheduler-strategy).",
    "properties": {
        "strategy": {"type": "string", "enum": ["spread", "pack"]},
        "filters": {
            "type": "array",
            "description": "Enabled filters, in the order they run.",
            "items": {"type": "string"},
        },
        "weighers": {
            "type": "array",
            "description": "Every weigher: its configured multiplier and the effective one "
            "(sign-flipped for RAM/CPU/disk when packing; 0: not run).",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "multiplier": {"type": "number"},
                    "effective_multiplier": {"type": "number"},
                },
            },
        },
        "max_attempts": {"type": "integer"},
        "default_availability_zone": {"type": "string"},
        "io_ops_window_s": {"type": "number"},
        "pci_aliases": {
            "type": "array",
            "description": "Names of the configured PCI aliases.",
            "items": {"type": "string"},
        },
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out.update(_json(schema))
    return out


_ERRORS = {
    "400": _answer("Bad input: the detail names the field.", _ERROR),
    "403": _answer("Not allowed by policy.", _ERROR),
}
_UUID_PARAM = {"name": "uuid", "in": "path", "required": True, "schema": {"type": "string"}}


def _op(summary: str, responses: dict[str, Any], body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, **_ERRORS}}
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    if params:
        op["parameters"] = params
    return op


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    host = [_UUID_PARAM]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "berth extensions",
            "version": "1",
            "description": "berth's own API beside the OpenStack Placement API (1.0-1.39): "
            "scheduling, host topology and the scheduler's state. Same auth, policy and "
            "error format as the Placement API; no microversion needed.",
        },
        "paths": {
            "/berth/v1/schedule": {
                "post": _op(
                    "Filter, weigh and claim in one atomic call, explained",
                    {
                        "200": _answer("Placed (and claimed unless dry_run); or a dry run "
                                       "that found no host (placed: false).", _SCHEDULE_ANSWER),
                        "409": _answer("berth.schedule.no_valid_host: nothing claimed; the "
                                       "explanation sits beside errors.", _SCHEDULE_ANSWER),
                    },
                    schedule.SCHEDULE,
                )
            },
            "/berth/v1/scheduler": {
                "get": _op("The effective scheduler configuration",
                           {"200": _answer("Filters, weighers, strategy, limits, aliases.",
                                           _SCHEDULER_CONFIG)}),
            },
            "/berth/v1/hosts/{uuid}/topology": {
                "put": _op("Register a host's NUMA/PCI topology (mirrored into Placement)",
                           {"200": _answer("Stored; the document with its generation."),
                            "404": _answer("No such root provider.", _ERROR),
                            "409": _answer("Stale generation, or devices in use.", _ERROR)},
                           topology_schema.PUT_TOPOLOGY, host),
                "get": _op("A host's topology", {"200": _answer("The document."),
                                                 "404": _answer("None stored.", _ERROR)},
                           params=host),
                "delete": _op("Forget a host's topology and its device providers",
                              {"204": _answer("Deleted."),
                               "409": _answer("A device provider is in use.", _ERROR)},
                              params=host),
            },
            "/berth/v1/hosts/{uuid}/capabilities": {
                "put": _op("Register a host's hypervisor capabilities (ComputeCapabilities"
                           "Filter, ImagePropertiesFilter)",
                           {"200": _answer("Stored; the document with its generation."),
                            "404": _answer("No such root provider.", _ERROR),
                            "409": _answer("Stale generation.", _ERROR)},
                           host_capabilities.PUT_CAPABILITIES, host),
                "get": _op("A host's capabilities", {"200": _answer("The document."),
                                                     "404": _answer("None stored.", _ERROR)},
                           params=host),
                "delete": _op("Forget a host's capabilities",
                              {"204": _answer("Deleted."),
                               "404": _answer("None stored.", _ERROR)},
                              params=host),
            },
            "/berth/v1/server_groups": {
                "post": _op("Create a server group", {"201": _answer("Created.")},
                            server_groups.CREATE),
                "get": _op("List server groups (?project_id=)", {"200": _answer("Groups.")}),
            },
            "/berth/v1/server_groups/{uuid}": {
                "get": _op("A server group with its members", {"200": _answer("The group.")},
                           params=host),
                "delete": _op("Delete a server group", {"204": _answer("Deleted.")},
                              params=host),
            },
            "/berth/v1/server_groups/{uuid}/members/{consumer_uuid}": {
                "delete": _op("Remove a member", {"204": _answer("Removed.")}, params=[
                    _UUID_PARAM,
                    {"name": "consumer_uuid", "in": "path", "required": True,
                     "schema": {"type": "string"}},
                ]),
            },
            "/berth/v1/aggregates/{uuid}/metadata": {
                "put": _op("Set an aggregate's name and metadata (availability_zone, "
                           "filter_tenant_id, extra-spec keys)", {"200": _answer("Stored.")},
                           aggregate_metadata.SET, host),
                "get": _op("An aggregate's name and metadata", {"200": _answer("It.")},
                           params=host),
                "delete": _op("Forget an aggregate's metadata", {"204": _answer("Gone.")},
                              params=host),
            },
            "/berth/v1/hosts/{uuid}/build_results": {
                "post": _op("Report a build failure or success (BuildFailureWeigher)",
                            {"200": _answer("The host's record.")},
                            host_stats.BUILD_RESULT, host),
            },
            "/berth/v1/hosts/{uuid}/stats": {
                "get": _op("A host's build record", {"200": _answer("The record.")},
                           params=host),
            },
            "/berth/v1/provider_trees": {
                "post": _op("Load whole provider trees in one transaction",
                            {"201": _answer("Created: uuid and generation of each."),
                             "409": _answer("A uuid or name is taken.", _ERROR),
                             "413": _answer("Too many providers in one batch.", _ERROR)},
                            bulk.LOAD),
            },
            "/berth/v1/openapi.json": {
                "get": _op("This document", {"200": _answer("OpenAPI 3.1.")}),
            },
        },
    }


def show(req: Request, st: AppState) -> Response:
    """Anyone the auth layer lets in may read the API description."""
    return json_response(document())
