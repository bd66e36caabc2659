"""Handler for POST /reshaper (1.30): move inventory and allocations atomically.

The body is validated, turned into values (``ProviderInventories``,
``ConsumerAllocations``) and applied by ``berth.db.reshaper`` in one transaction.
"""

from __future__ import annotations

from typing import Any

from berth.api.errors import BadRequest
from berth.api.handlers.allocations import consumer_from_body, explained
from berth.api.http import Request, Response, no_content
from berth.api.schemas import reshaper as schemas
from berth.api.state import AppState
from berth.api.validation import validate
from berth.db import reshaper as db
from berth.model.allocation import ProviderInventories
from berth.model.inventory import Inventory, capacity_problem
from berth.model.uuids import normalize


def _inventory(record: dict[str, Any]) -> Inventory:
    """A validated inventory record; omitted fields take Placement's defaults."""
    values: dict[str, Any] = {
        k: record[k]
        for k in ("total", "reserved", "min_unit", "max_unit", "step_size")
        if k in record
    }
    if "allocation_ratio" in record:
        values["allocation_ratio"] = float(record["allocation_ratio"])
    return Inventory(**values)


def _provider_inventories(uuid: str, data: dict[str, Any]) -> ProviderInventories:
    invs = {rc: _inventory(rec) for rc, rec in data["inventories"].items()}
    for rc, inv in invs.items():
        problem = capacity_problem(rc, uuid, inv, reserved_may_equal_total=True)
        if problem:
            raise BadRequest(f"Unable to reshape inventory for resource provider {uuid}: {problem}")
    return ProviderInventories(uuid, data["resource_provider_generation"], invs)


def reshape(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:reshaper:reshape")
    body = validate(schemas.schema(req.version), req.json_body())
    wanted = [_provider_inventories(normalize(u), d) for u, d in body["inventories"].items()]
    batch = {
        normalize(c): consumer_from_body(normalize(c), entry, req.version)
        for c, entry in body["allocations"].items()
    }
    with explained(reword_invalid=False), st.store.write() as conn:
        db.reshape(conn, wanted, list(batch.values()))
    return no_content()
