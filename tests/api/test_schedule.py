"""POST /berth/v1/schedule through the whole app, and the CLI's readable explanation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from berth.cli.why import render_text

FLAVOR = {"name": "m1.small", "vcpus": 2, "memory_mb": 2048, "root_gb": 10}


def _host(client: httpx.Client, name: str, memory_mb: int = 16384) -> str:
    rp = str(uuid.uuid4())
    assert client.post("/resource_providers", json={"name": name, "uuid": rp}).status_code == 200
    inventories = {
        "VCPU": {"total": 16},
        "MEMORY_MB": {"total": memory_mb},
        "DISK_GB": {"total": 200},
    }
    put = client.put(
        f"/resource_providers/{rp}/inventories",
        json={"resource_provider_generation": 0, "inventories": inventories},
    )
    assert put.status_code == 200, put.text
    return rp


def _in_use(client: httpx.Client, rp: str) -> dict[str, int]:
    usages = client.get(f"/resource_providers/{rp}/usages").json()["usages"]
    return {rc: n for rc, n in usages.items() if n}


def _body(**kw: Any) -> dict[str, Any]:
    return {"flavor": FLAVOR, "project_id": "p1", "user_id": "u1", **kw}


def test_schedule_claims_and_explains(client: httpx.Client) -> None:
    big = _host(client, "cn-big", 65536)
    _host(client, "cn-small", 4096)
    _host(client, "cn-tiny", 1024)
    answer = client.post("/berth/v1/schedule", json=_body(explain_hosts=["cn-tiny"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["placed"] and body["claimed"] and not body["dry_run"]
    (placement,) = body["placements"]
    assert placement["host"] == {"uuid": big, "name": "cn-big"}
    assert placement["allocations"] == {
        big: {"resources": {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 10}}
    }
    assert body["explanation"]["summary"] == "1/3 hosts: 1 insufficient MEMORY_MB"
    assert body["explanation"]["hosts"]["cn-tiny"] == [
        {"stage": "placement", "reason": "insufficient MEMORY_MB"}
    ]
    assert _in_use(client, big) == {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 10}
    text = render_text(body)
    assert "Placed and claimed 1 instance(s)" in text
    assert "-> cn-big" in text
    assert "Host cn-tiny:\n  - placement: insufficient MEMORY_MB" in text


def test_no_valid_host_is_a_409_with_the_reasons(client: httpx.Client) -> None:
    tiny = _host(client, "cn-tiny", 1024)
    answer = client.post("/berth/v1/schedule", json=_body())
    assert answer.status_code == 409
    body = answer.json()
    (error,) = body["errors"]
    assert error["code"] == "berth.schedule.no_valid_host"
    assert "No valid host was found. 0/1 hosts: 1 insufficient MEMORY_MB" in error["detail"]
    assert body["placed"] is False and body["placements"] == []
    assert _in_use(client, tiny) == {}
    text = render_text(body)
    assert text.startswith("No valid host was found (instance 1).")
    assert "placement: removed 1 (1 insufficient MEMORY_MB)" in text


def test_dry_run_answers_200_and_claims_nothing(client: httpx.Client) -> None:
    rp = _host(client, "cn0")
    ok = client.post("/berth/v1/schedule", json=_body(dry_run=True))
    assert ok.status_code == 200 and ok.json()["placed"] and not ok.json()["claimed"]
    assert _in_use(client, rp) == {}
    big = {**FLAVOR, "memory_mb": 10**6}
    nowhere = client.post("/berth/v1/schedule", json=_body(flavor=big, dry_run=True))
    assert nowhere.status_code == 200 and nowhere.json()["placed"] is False


@pytest.mark.parametrize(
    ("extra_specs", "field"),
    [
        ({"hw:cpu_policy": "sometimes"}, "hw:cpu_policy"),
        ({"hw:cpu_thread_policy": "isolate"}, "hw:cpu_thread_policy"),
        ({"hw:no_such_spec": "1"}, "hw:no_such_spec"),
        ({"hw:numa_nodes": "4"}, "hw:numa_nodes"),
    ],
)
def test_bad_specs_are_400s_naming_the_field(
    client: httpx.Client, extra_specs: dict[str, str], field: str
) -> None:
    rp = _host(client, "cn0")
    flavor = {**FLAVOR, "extra_specs": extra_specs}
    answer = client.post("/berth/v1/schedule", json=_body(flavor=flavor))
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["errors"][0]["detail"]
    assert _in_use(client, rp) == {}


def test_unknown_group_and_missing_fields(client: httpx.Client) -> None:
    _host(client, "cn0")
    group = {"uuid": str(uuid.uuid4()), "policy": "anti-affinity"}
    answer = client.post("/berth/v1/schedule", json=_body(server_group=group))
    assert answer.status_code == 400
    assert "server_group" in answer.json()["errors"][0]["detail"]
    missing = client.post("/berth/v1/schedule", json={"flavor": FLAVOR})
    assert missing.status_code == 400


def test_only_admins_and_services_schedule(client: httpx.Client) -> None:
    answer = client.post(
        "/berth/v1/schedule", json=_body(), headers={"X-Auth-Token": "user:p1"}
    )
    assert answer.status_code == 403
