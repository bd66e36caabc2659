"""Recent claims per host (the IoOpsWeigher's input), counted as the resident index sees
allocation writes arrive, and forgotten when they fall out of the window."""

from __future__ import annotations

import uuid

import httpx
import numpy as np

from berth.api.app import PlacementApp
from berth.query import activity, resident
from berth.query.activity import ClaimActivity


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_counts_within_the_window_only() -> None:
    clock = _Clock()
    seen = ClaimActivity(clock)
    seen.note(3)
    seen.note(3)
    clock.now += 10
    seen.note(5000)  # beyond the first array size: it grows
    recent = seen.recent(60)
    assert recent.column(np.array([3, 4, 5000, 99999])).tolist() == [2.0, 0.0, 1.0, 0.0]
    assert recent.get(3) == 2 and recent.get(-1) == 0
    clock.now += 55  # the first two are 65 s old now, the third 55 s
    assert seen.recent(60).column(np.array([3, 5000])).tolist() == [0.0, 1.0]
    clock.now += 10
    assert seen.recent(60).column(np.array([3, 5000])).tolist() == [0.0, 0.0]


def test_memory_stays_bounded(monkeypatch: object) -> None:
    clock = _Clock()
    seen = ClaimActivity(clock)
    limit = activity.MAX_EVENTS
    activity.MAX_EVENTS = 5  # type: ignore[misc]
    try:
        for _ in range(8):
            seen.note(7)
        assert seen.recent(1e9).get(7) == 5
    finally:
        activity.MAX_EVENTS = limit  # type: ignore[misc]


def _provider(client: httpx.Client, name: str) -> str:
    rp = str(uuid.uuid4())
    assert client.post("/resource_providers", json={"name": name, "uuid": rp}).status_code == 200
    body = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}}
    assert client.put(f"/resource_providers/{rp}/inventories", json=body).status_code == 200
    return rp


def test_the_index_notes_claims_as_they_arrive(client: httpx.Client, app: PlacementApp) -> None:
    a, b = _provider(client, "a"), _provider(client, "b")
    assert client.get("/allocation_candidates?resources=VCPU:1").status_code == 200
    for rp in (a, a, b):
        consumer = str(uuid.uuid4())
        body = {
            "allocations": {rp: {"resources": {"VCPU": 1}}},
            "project_id": "p",
            "user_id": "u",
            "consumer_generation": None,
        }
        answer = client.put(
            f"/allocations/{consumer}",
            json=body,
            headers={"OpenStack-API-Version": "placement 1.28"},
        )
        assert answer.status_code == 204, answer.text
        # Each write is taken in by the next request, as a usage change.
        assert client.get("/allocation_candidates?resources=VCPU:1").status_code == 200
    with resident.for_store(app.state.store).reading() as (_, index):
        recent = index.activity.recent(300)
        ids = np.array([index.by_uuid[a], index.by_uuid[b]])
        assert recent.column(ids).tolist() == [2.0, 1.0]
