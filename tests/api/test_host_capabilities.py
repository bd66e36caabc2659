"""/berth/v1/hosts/{uuid}/capabilities through the whole app, on every database engine,
and the two filters that read them through POST /berth/v1/schedule."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from berth.api.app import PlacementApp
from conftest import make_client

DOC: dict[str, Any] = {
    "hypervisor_type": "QEMU",
    "hypervisor_version": 8002000,
    "hypervisor_hostname": "cn1.example.org",
    "cpu_info": {
        "arch": "x86_64",
        "vendor": "Intel",
        "model": "Haswell",
        "topology": {"sockets": 2, "cores": 8, "threads": 2},
        "features": ["avx2", "sse4.2"],
        "maxphysaddr": {"mode": "emulate", "bits": 46},
    },
    "supported_instances": [["x86_64", "kvm", "hvm"]],
    "stats": {"rack": "r12"},
}


def _url(host: str) -> str:
    return f"/berth/v1/hosts/{host}/capabilities"


def _error(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    errors = resp.json()["errors"]
    assert len(errors) == 1 and errors[0]["status"] == status
    return str(errors[0]["detail"])


def _provider(client: httpx.Client, name: str, parent: str | None = None) -> str:
    body: dict[str, Any] = {"name": name}
    if parent:
        body["parent_provider_uuid"] = parent
    resp = client.post("/resource_providers", json=body)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["uuid"])


@pytest.fixture
def host(client: httpx.Client) -> str:
    return _provider(client, "cn1")


def test_put_get_delete(client: httpx.Client, host: str) -> None:
    put = client.put(_url(host), json=DOC)
    assert put.status_code == 200, put.text
    assert put.json() == {"host_uuid": host, "host_name": "cn1", "generation": 1, **DOC}
    shown = client.get(_url(host))
    assert shown.status_code == 200
    assert shown.json() == put.json()
    assert "last-modified" in shown.headers
    # Unchanged: same generation; changed with compare-and-swap: the next one.
    assert client.put(_url(host), json=DOC).json()["generation"] == 1
    changed = client.put(_url(host), json={**DOC, "hypervisor_version": 9000000, "generation": 1})
    assert changed.json()["generation"] == 2
    assert changed.json()["hypervisor_version"] == 9000000
    assert client.delete(_url(host)).status_code == 204
    assert "No capabilities" in _error(client.get(_url(host)), 404)
    _error(client.delete(_url(host)), 404)


def test_partial_documents_and_canonical_triples(client: httpx.Client, host: str) -> None:
    body = {"supported_instances": [["AMD64", "QEMU", "hvm"], ["x86_64", "qemu", "HV"]]}
    got = client.put(_url(host), json=body).json()
    # Aliases are stored canonical; the two triples turn out to be one.
    assert got["supported_instances"] == [["x86_64", "qemu", "hvm"]]
    assert got["hypervisor_type"] is None and got["cpu_info"] == {} and got["stats"] == {}
    empty = client.put(_url(host), json={}).json()
    assert empty["generation"] == 2 and empty["supported_instances"] == []
    # A hypervisor may not be able to name every part of its CPU.
    unnamed = client.put(_url(host), json={"cpu_info": {"model": "", "vendor": "Intel"}})
    assert unnamed.status_code == 200, unnamed.text
    assert unnamed.json()["cpu_info"] == {"model": "", "vendor": "Intel"}


def test_stale_generation_is_409(client: httpx.Client, host: str) -> None:
    _error(client.put(_url(host), json={**DOC, "generation": 1}), 409)
    assert client.put(_url(host), json={**DOC, "generation": 0}).status_code == 200
    resp = client.put(_url(host), json={**DOC, "generation": 0})
    assert "generation" in _error(resp, 409)
    assert resp.json()["errors"][0]["code"] == "placement.concurrent_update"


def test_unknown_child_and_malformed_hosts(client: httpx.Client, host: str) -> None:
    child = _provider(client, "cn1-numa0", host)
    missing = str(uuid.uuid4())
    for method in ("GET", "PUT", "DELETE"):
        kw: dict[str, Any] = {"json": DOC} if method == "PUT" else {}
        _error(client.request(method, _url(missing), **kw), 404)
        assert "not a host" in _error(client.request(method, _url(child), **kw), 400)
        assert "host uuid" in _error(client.request(method, _url("nope"), **kw), 400)
    # Dashless, upper-case uuids name the same host.
    assert client.put(_url(host.replace("-", "").upper()), json=DOC).status_code == 200
    assert client.get(_url(host)).json()["generation"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ({"hypervisor_kind": "QEMU"}, "body"),
        ({"hypervisor_type": ""}, "hypervisor_type"),
        ({"hypervisor_type": "Q\x00EMU"}, "hypervisor_type"),
        ({"hypervisor_version": "8.2.0"}, "hypervisor_version"),
        ({"hypervisor_version": -1}, "hypervisor_version"),
        ({"hypervisor_version": 2**40}, "hypervisor_version"),
        ({"hypervisor_version": 8.5}, "hypervisor_version"),
        ({"generation": -1}, "generation"),
        ({"cpu_info": "Intel"}, "cpu_info"),
        ({"cpu_info": {"features": ["avx2", "avx2"]}}, "cpu_info.features"),
        ({"cpu_info": {"features": ["has:colon"]}}, "cpu_info.features[0]"),
        ({"cpu_info": {"features": ["trailing\n"]}}, "cpu_info.features[0]"),
        ({"cpu_info": {"topology": {"cores": -2}}}, "cpu_info.topology.cores"),
        ({"cpu_info": {"a:b": "x"}}, "cpu_info"),
        ({"cpu_info": {"x": 1.5}}, "cpu_info.x"),
        ({"cpu_info": {"x": [[1]]}}, "cpu_info.x[0]"),
        ({"supported_instances": [["x86_64", "kvm"]]}, "supported_instances[0]"),
        ({"supported_instances": [["x86_64", "kvm", "hvm", "x"]]}, "supported_instances[0]"),
        ({"supported_instances": [["z80", "kvm", "hvm"]]}, "supported_instances[0][0]"),
        ({"supported_instances": [["x86_64", "kvmm", "hvm"]]}, "supported_instances[0][1]"),
        ({"supported_instances": [["x86_64", "kvm", "pvh"]]}, "supported_instances[0][2]"),
        ({"supported_instances": "x86_64"}, "supported_instances"),
        ({"stats": {"rack": 12}}, "stats.rack"),
        ({"stats": {"a:b": "x"}}, "stats"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(
    client: httpx.Client, host: str, body: Any, field: str
) -> None:
    detail = _error(client.put(_url(host), json=body), 400)
    assert f"Invalid capabilities: {field}: " in detail, detail
    _error(client.get(_url(host)), 404)  # nothing stored


def test_bad_json_and_media_type(client: httpx.Client, host: str) -> None:
    bad = client.put(_url(host), content=b"{", headers={"Content-Type": "application/json"})
    assert "Malformed JSON" in _error(bad, 400)
    _error(client.put(_url(host), content=b"{}", headers={"Content-Type": "text/plain"}), 415)
    deep = b"[" * 100_000 + b"]" * 100_000
    _error(client.put(_url(host), content=deep, headers={"Content-Type": "application/json"}), 400)


def test_services_and_admins_only(app: PlacementApp, client: httpx.Client, host: str) -> None:
    with make_client(app, token="nova:service") as service:
        service.headers["X-Roles"] = "service"
        assert service.put(_url(host), json=DOC).status_code == 200
        assert service.get(_url(host)).status_code == 200
    with make_client(app, token="user:project") as member:
        member.headers["X-Roles"] = "member,reader"
        for method in ("GET", "PUT", "DELETE"):
            kw: dict[str, Any] = {"json": DOC} if method == "PUT" else {}
            assert "berth:hosts:capabilities" in _error(
                member.request(method, _url(host), **kw), 403
            )
    assert client.delete(_url(host)).status_code == 204


# -- the filters through POST /berth/v1/schedule --------------------------------------

FLAVOR = {"name": "m1.small", "vcpus": 2, "memory_mb": 2048, "root_gb": 10}


def _compute(client: httpx.Client, name: str, caps: dict[str, Any] | None) -> str:
    rp = _provider(client, name)
    inventories = {"VCPU": {"total": 16}, "MEMORY_MB": {"total": 16384}, "DISK_GB": {"total": 200}}
    put = client.put(
        f"/resource_providers/{rp}/inventories",
        json={"resource_provider_generation": 0, "inventories": inventories},
    )
    assert put.status_code == 200, put.text
    if caps is not None:
        assert client.put(_url(rp), json=caps).status_code == 200
    return rp


def test_schedule_matches_capabilities_and_image(client: httpx.Client) -> None:
    intel = _compute(client, "cn-intel", DOC)
    _compute(client, "cn-amd", {**DOC, "cpu_info": {**DOC["cpu_info"], "vendor": "AMD"}})
    _compute(client, "cn-arm", {**DOC, "supported_instances": [["aarch64", "kvm", "hvm"]]})
    _compute(client, "cn-bare", None)
    body = {
        "flavor": {**FLAVOR, "extra_specs": {"capabilities:cpu_info:vendor": "Intel"}},
        "image": {"properties": {"hw_architecture": "x86_64"}},
        "project_id": "p1",
        "user_id": "u1",
        "dry_run": True,
        "explain_hosts": ["cn-amd", "cn-arm", "cn-bare"],
    }
    answer = client.post("/berth/v1/schedule", json=body)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert [p["host"]["uuid"] for p in got["placements"]] == [intel]
    explanation = got["explanation"]
    assert explanation["summary"] == (
        "1/4 hosts: 1 does not support hw_architecture=x86_64, "
        "1 lacks capability cpu_info:vendor=Intel, 1 registered no capabilities"
    )
    hosts = explanation["hosts"]
    assert hosts["cn-amd"] == [
        {
            "stage": "ComputeCapabilitiesFilter",
            "reason": "lacks capability cpu_info:vendor=Intel",
            "detail": "capabilities:cpu_info:vendor: host cn-amd has 'AMD'",
        }
    ]
    assert hosts["cn-arm"][0]["stage"] == "ImagePropertiesFilter"
    assert hosts["cn-arm"][0]["detail"] == (
        "host cn-arm supports aarch64/kvm/hvm; the image needs x86_64/*/*"
    )
    assert hosts["cn-bare"][0]["reason"] == "registered no capabilities"
    assert "has not registered its capabilities" in hosts["cn-bare"][0]["detail"]
