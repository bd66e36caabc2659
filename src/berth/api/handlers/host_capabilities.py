"""A host's capabilities (``/berth/v1/hosts/{uuid}/capabilities``).

A berth extension, served at every microversion: what Nova's compute service reports
about its hypervisor and Nova's scheduler matches with ComputeCapabilitiesFilter
(flavor ``capabilities:*`` extra specs) and ImagePropertiesFilter (an image's
architecture, hypervisor type, VM mode and version). The host is its root resource
provider, which must exist first (404 otherwise; a provider that is not a root is a 400).
``PUT`` replaces the whole document and answers like ``GET``::

    {"host_uuid": "...", "host_name": "cn1", "generation": 1,
     "hypervisor_type": "QEMU", "hypervisor_version": 8002000,
     "hypervisor_hostname": "cn1.example.org",
     "cpu_info": {"arch": "x86_64", "vendor": "Intel", "features": ["avx2"]},
     "supported_instances": [["x86_64", "kvm", "hvm"]], "stats": {"rack": "r12"}}

A ``generation`` member in the PUT body is a compare-and-swap on the document (0: none
stored yet); without it the PUT simply overwrites. Re-sending an unchanged document keeps
the generation. Policy ``berth:hosts:capabilities:{show,update,delete}``: admin or
service by default (the compute service reports them with its service role).
"""

from __future__ import annotations

from typing import Any

from berth.api.errors import NotFound
from berth.api.handlers.server_groups import path_uuid
from berth.api.http import Request, Response, cache_headers, json_response, no_content
from berth.api.schemas import host_capabilities as schemas
from berth.api.state import AppState
from berth.db import host_capabilities as db
from berth.model.capabilities import capabilities_to_json

SHOW = "berth:hosts:capabilities:show"
UPDATE = "berth:hosts:capabilities:update"
DELETE = "berth:hosts:capabilities:delete"


def _respond(req: Request, stored: db.StoredCapabilities) -> Response:
    body: dict[str, Any] = {
        "host_uuid": stored.root_uuid,
        "host_name": stored.root_name,
        "generation": stored.generation,
        **capabilities_to_json(stored.capabilities),
    }
    return cache_headers(req, json_response(body), stored.updated_at)


def put_capabilities(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, UPDATE)
    host = path_uuid(req, "uuid", "host")
    caps, generation = schemas.validate_put(req.json_body())
    stored = db.save(st.store, host, caps, expected_generation=generation)
    return _respond(req, stored)


def get_capabilities(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, SHOW)
    host = path_uuid(req, "uuid", "host")
    with st.store.read() as conn:
        stored = db.read(conn, host)
    if stored is None:
        raise NotFound(f"No capabilities for resource provider {host}")
    return _respond(req, stored)


def delete_capabilities(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, DELETE)
    host = path_uuid(req, "uuid", "host")
    with st.store.write() as conn:
        db.delete_capabilities(conn, host)
    return no_content()
