"""POST /berth/v1/provider_trees: load many whole provider trees in one request.

A berth extension, outside Placement's API (its own path prefix, so no Placement
microversion can ever clash with it), for operators onboarding a region or migrating
from Placement, which needs POST /resource_providers plus PUT inventories, traits and
aggregates for every single provider. Body::

    {"providers": [
        {"uuid": "...", "name": "cn1",
         "parent_provider_uuid": null,                         # optional
         "inventories": {"VCPU": {"total": 64, ...}},          # optional, as PUT inventories
         "traits": ["HW_CPU_X86_AVX2"],                       # optional, must exist
         "aggregates": ["<aggregate uuid>"]},                  # optional
        {"uuid": "...", "name": "cn1-numa0", "parent_provider_uuid": "<cn1's uuid>", ...}
    ]}

A parent must already exist or come earlier in the batch. The answer (201) lists every
provider's ``uuid`` and ``generation`` in batch order. All or nothing: one transaction; a
bad item is a 400 (schema, inventory values, unknown class or trait, missing or later
parent, self-parent) or a 409 (uuid or name used twice, or already taken) in Placement's
error format, naming the item (``providers[i] (uuid …)``) and the field, and nothing is
written. More providers than ``ApiConfig.bulk_max_providers`` is a 413. Policy rule
``berth:provider_trees:create``, admin only by default.
"""

from __future__ import annotations

from typing import Any

from berth.api.errors import BadRequest, PayloadTooLarge
from berth.api.http import Request, Response, cache_headers, json_response
from berth.api.schemas import bulk as schemas
from berth.api.state import AppState
from berth.api.validation import validate
from berth.db import bulk
from berth.model.bulk import NewProvider, label
from berth.model.inventory import Inventory, capacity_problem
from berth.model.uuids import normalize

RULE = "berth:provider_trees:create"


def load_provider_trees(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, RULE)
    body = req.json_body()
    _check_size(body, st.config.bulk_max_providers)
    _validate(body)
    reserved_may_equal_total = req.version >= (1, 26)
    batch = [
        _provider(i, item, reserved_may_equal_total) for i, item in enumerate(body["providers"])
    ]
    with st.store.write() as conn:
        loaded = bulk.load(conn, batch)
    view = {"resource_providers": [{"uuid": p.uuid, "generation": p.generation} for p in loaded]}
    return cache_headers(req, json_response(view, status=201), None)


def _check_size(body: Any, limit: int) -> None:
    """413 before any per-item work when the batch is larger than the server allows."""
    if not isinstance(body, dict):
        return
    items = body.get("providers")
    if isinstance(items, list) and len(items) > limit:
        raise PayloadTooLarge(
            f"Too many providers in one request: {len(items)}; this server takes at most "
            f"{limit} per request (split the load into batches, parents before children)."
        )


def _validate(body: Any) -> None:
    """The whole body against the schema; a failing item is re-checked alone so the 400
    names its position and uuid. A body of plainly valid items skips jsonschema (see
    ``schemas.bulk.plainly_valid``)."""
    if (
        type(body) is dict
        and body.keys() == {"providers"}
        and type(body["providers"]) is list
        and body["providers"]
        and all(schemas.plainly_valid(item) for item in body["providers"])
    ):
        return
    try:
        validate(schemas.LOAD, body)
    except BadRequest:
        items = body.get("providers") if isinstance(body, dict) else None
        for i, item in enumerate(items if isinstance(items, list) else ()):
            try:
                validate(schemas.PROVIDER, item)
            except BadRequest as exc:
                uuid = item.get("uuid") if isinstance(item, dict) else None
                raise BadRequest(f"{label(i, uuid)}: {exc.message}") from exc
        raise


def _inventory(data: dict[str, Any]) -> Inventory:
    """A record as PUT inventories reads it: omitted fields take Placement's defaults and
    integral floats (2.0, which JSON Schema counts as an integer) are stored as ints."""
    fields = ("total", "reserved", "min_unit", "max_unit", "step_size")
    values: dict[str, Any] = {k: int(data[k]) for k in fields if k in data}
    if "allocation_ratio" in data:
        values["allocation_ratio"] = float(data["allocation_ratio"])
    return Inventory(**values)


def _provider(index: int, item: dict[str, Any], reserved_may_equal_total: bool) -> NewProvider:
    """One validated item as a model value, with PUT inventories' capacity rule applied."""
    uuid = normalize(item["uuid"])
    parent = item.get("parent_provider_uuid")
    inventories = {rc: _inventory(data) for rc, data in item.get("inventories", {}).items()}
    for rc, inv in inventories.items():
        problem = capacity_problem(rc, uuid, inv, reserved_may_equal_total=reserved_may_equal_total)
        if problem:
            raise BadRequest(
                f"{label(index, uuid)}: inventories.{rc}: Unable to update inventory for "
                f"resource provider {uuid}: {problem}"
            )
    return NewProvider(
        uuid=uuid,
        name=item["name"],
        parent_uuid=None if parent is None else normalize(parent),
        inventories=inventories,
        traits=tuple(item.get("traits", ())),
        aggregates=tuple(item.get("aggregates", ())),
    )
