"""GET /allocation_candidates through the whole app, on every database engine.

State is built through the API, as a client would build it. The engine's semantics are
covered in tests/query; here: parameters per microversion, error wording and codes, the
response format of each microversion, and behaviour that once broke on a real database.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

PROJECT = "6f1e0c36-9b7a-4d7e-9a57-6a2d8a0c3e11"
USER = "1c4b3a2d-5e6f-4a1b-8c9d-0e1f2a3b4c5d"
AGG = "4b0c1f6a-2e4d-4a35-9d8e-1f2a3b4c5d6e"


def _v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement {version}"}


class Builder:
    """Creates providers and their inventories, traits, aggregates and usage via the API."""

    def __init__(self, client: httpx.Client) -> None:
        self.c = client

    def _gen(self, rp: str) -> int:
        return int(self.c.get(f"/resource_providers/{rp}").json()["generation"])

    def provider(self, name: str, parent: str | None = None) -> str:
        rp = str(uuid.uuid4())
        body: dict[str, Any] = {"name": name, "uuid": rp}
        if parent:
            body["parent_provider_uuid"] = parent
        resp = self.c.post("/resource_providers", json=body)
        assert resp.status_code == 200, resp.text
        return rp

    def inventory(self, rp: str, **totals: int | dict[str, Any]) -> None:
        inventories = {
            rc: (dict(spec) if isinstance(spec, dict) else {"total": spec})
            for rc, spec in totals.items()
        }
        resp = self.c.put(
            f"/resource_providers/{rp}/inventories",
            json={"resource_provider_generation": self._gen(rp), "inventories": inventories},
        )
        assert resp.status_code == 200, resp.text

    def traits(self, rp: str, *names: str) -> None:
        for name in names:
            if name.startswith("CUSTOM_"):
                self.c.put(f"/traits/{name}")
        resp = self.c.put(
            f"/resource_providers/{rp}/traits",
            json={"resource_provider_generation": self._gen(rp), "traits": list(names)},
        )
        assert resp.status_code == 200, resp.text

    def aggregates(self, rp: str, *aggs: str) -> None:
        resp = self.c.put(
            f"/resource_providers/{rp}/aggregates",
            json={"resource_provider_generation": self._gen(rp), "aggregates": list(aggs)},
        )
        assert resp.status_code == 200, resp.text

    def use(self, rp: str, **resources: int) -> None:
        body = {
            "allocations": {rp: {"resources": resources}},
            "project_id": PROJECT,
            "user_id": USER,
            "consumer_generation": None,
        }
        resp = self.c.put(f"/allocations/{uuid.uuid4()}", json=body, headers=_v("1.28"))
        assert resp.status_code == 204, resp.text


@pytest.fixture
def cloud(client: httpx.Client) -> dict[str, str]:
    """cn1 (VCPU, MEMORY, SSE) <- numa1 <- pf1 (VF); cn2 (VCPU, DISK); ss (DISK, shared)."""
    b = Builder(client)
    cn1 = b.provider("cn1")
    numa1 = b.provider("numa1", parent=cn1)
    pf1 = b.provider("pf1", parent=numa1)
    cn2 = b.provider("cn2")
    ss = b.provider("ss")
    b.inventory(cn1, VCPU={"total": 8, "allocation_ratio": 2.0}, MEMORY_MB=4096)
    b.inventory(pf1, SRIOV_NET_VF=8)
    b.inventory(cn2, VCPU=8, DISK_GB={"total": 200, "reserved": 100})
    b.inventory(ss, DISK_GB=1000)
    b.traits(cn1, "HW_CPU_X86_SSE", "COMPUTE_STATUS_DISABLED")
    b.traits(ss, "MISC_SHARES_VIA_AGGREGATE")
    for rp in (cn1, cn2, ss):
        b.aggregates(rp, AGG)
    b.use(cn2, VCPU=2)
    return {"cn1": cn1, "numa1": numa1, "pf1": pf1, "cn2": cn2, "ss": ss}


def get(client: httpx.Client, version: str, **params: str) -> httpx.Response:
    return client.get("/allocation_candidates", params=params, headers=_v(version))


def providers_in(body: Any) -> list[set[str]]:
    return [set(areq["allocations"]) for areq in body["allocation_requests"]]


# --- parameters --------------------------------------------------------------------

BAD = "placement.query.bad_value"
MISSING = "placement.query.missing_value"
SSE = "HW_CPU_X86_SSE"

ERRORS = [
    ("1.10", {}, "'resources' is a required property", None),
    ("1.10", {"resources": ""}, "Got: empty string.", None),
    ("1.10", {"resources": "VCPU:1", "limit": "2"}, "'limit' was unexpected", None),
    ("1.16", {"resources": "VCPU:1", "limit": "0"}, "Failed validating 'pattern'", None),
    ("1.16", {"resources": "VCPU:1", "required": "X"}, "'required' was unexpected", None),
    ("1.25", {"resources01": "VCPU:1"}, "'resources01' does not match any of the regexes", None),
    ("1.33", {"resources_x@": "VCPU:1"}, "^member_of([a-zA-Z0-9_-]{1,64})?$", None),
    ("1.25", {"resources": "VCPU:1", "group_policy": "x"}, "is not one of", None),
    ("1.25", {"resources1": "VCPU:1", "resources2": "VCPU:1"}, '"group_policy" parameter', None),
    ("1.25", {"required1": SSE}, "orphaned traits keys: required1", None),
    ("1.25", {"group_policy": "none"}, "At least one request group", None),
    ("1.31", {"resources": "VCPU:1", "in_tree": "nope"}, "format of uuid", None),
    (
        "1.31",
        {"resources": "VCPU:1", "in_tree1": str(uuid.uuid4())},
        "must specify resources",
        None,
    ),
    ("1.35", {"resources": "VCPU:1", "root_required": "A,!A"}, "found in root_required: A", BAD),
    (
        "1.36",
        {"resources_A": "VCPU:1", "required_B": SSE, "group_policy": "none"},
        "Resourceless suffixed group",
        BAD,
    ),
    ("1.36", {"required_B": SSE}, "There must be at least one resources", MISSING),
    (
        "1.36",
        {"resources_A": "VCPU:1", "same_subtree": "_A,_Z"},
        "Real suffixes should be specified",
        BAD,
    ),
    (
        "1.36",
        {"resources_A": "VCPU:1", "same_subtree": "_A,"},
        "Empty string (unsuffixed group)",
        BAD,
    ),
    (
        "1.22",
        {"resources": "VCPU:1", "required": f"{SSE},!{SSE}"},
        "Conflicting required and forbidden traits",
        None,
    ),
    (
        "1.38",
        {"resources": "VCPU:1", "required": f"in:{SSE}"},
        "only supported since microversion 1.39",
        None,
    ),
    ("1.10", {"resources": "MCPU:1"}, "Invalid resource class in resources parameter", None),
    (
        "1.17",
        {"resources": "VCPU:1", "required": "CUSTOM_NOPE"},
        "No such trait(s): CUSTOM_NOPE",
        None,
    ),
]


@pytest.mark.parametrize(("version", "params", "text", "code"), ERRORS)
def test_bad_queries_are_400(
    client: httpx.Client, version: str, params: dict[str, str], text: str, code: str | None
) -> None:
    resp = get(client, version, **params)
    assert resp.status_code == 400, resp.text
    assert text in resp.json()["errors"][0]["detail"]
    if code is not None:
        assert resp.json()["errors"][0]["code"] == code


def test_root_required_only_once(client: httpx.Client) -> None:
    resp = client.get(
        "/allocation_candidates?resources=VCPU:1&root_required=A&root_required=B",
        headers=_v("1.35"),
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "placement.query.duplicate_key"


def test_not_found_before_1_10(client: httpx.Client) -> None:
    assert get(client, "1.9", resources="VCPU:1").status_code == 404


def test_non_admin_is_forbidden(client: httpx.Client) -> None:
    resp = client.get(
        "/allocation_candidates", params={"resources": "VCPU:1"}, headers={"X-Auth-Token": "u:p"}
    )
    assert resp.status_code == 403


# --- formats -----------------------------------------------------------------------


def test_1_10_list_format_without_cache_headers(
    client: httpx.Client, cloud: dict[str, str]
) -> None:
    resp = get(client, "1.10", resources="VCPU:1,DISK_GB:10")
    assert resp.status_code == 200
    assert "cache-control" not in resp.headers
    body = resp.json()
    got = sorted(
        sorted(
            (a["resource_provider"]["uuid"], tuple(sorted(a["resources"])))
            for a in areq["allocations"]
        )
        for areq in body["allocation_requests"]
    )
    assert got == sorted(
        [
            sorted([(cloud["cn1"], ("VCPU",)), (cloud["ss"], ("DISK_GB",))]),
            sorted([(cloud["cn2"], ("DISK_GB", "VCPU"))]),
            sorted([(cloud["cn2"], ("VCPU",)), (cloud["ss"], ("DISK_GB",))]),
        ]
    )
    # Before 1.29 only the providers allocated from are summarized, with only the
    # requested classes before 1.27, and no traits before 1.17.
    assert set(body["provider_summaries"]) == {cloud["cn1"], cloud["cn2"], cloud["ss"]}
    assert body["provider_summaries"][cloud["cn1"]] == {
        "resources": {"VCPU": {"capacity": 16, "used": 0}}
    }
    assert body["provider_summaries"][cloud["cn2"]]["resources"] == {
        "VCPU": {"capacity": 8, "used": 2},
        "DISK_GB": {"capacity": 100, "used": 0},
    }


def test_1_12_dict_format_and_1_15_cache_headers(
    client: httpx.Client, cloud: dict[str, str]
) -> None:
    body = get(client, "1.12", resources="VCPU:1,DISK_GB:10").json()
    assert {cloud["cn2"]: {"resources": {"VCPU": 1, "DISK_GB": 10}}} in [
        a["allocations"] for a in body["allocation_requests"]
    ]
    resp = get(client, "1.15", resources="VCPU:1")
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.headers["last-modified"].endswith("GMT")


def test_summaries_by_microversion(client: httpx.Client, cloud: dict[str, str]) -> None:
    cn1 = cloud["cn1"]
    s117 = get(client, "1.17", resources="VCPU:1").json()["provider_summaries"][cn1]
    assert set(s117) == {"resources", "traits"}
    assert sorted(s117["traits"]) == ["COMPUTE_STATUS_DISABLED", "HW_CPU_X86_SSE"]
    assert set(s117["resources"]) == {"VCPU"}
    s127 = get(client, "1.27", resources="VCPU:1").json()["provider_summaries"][cn1]
    assert set(s127["resources"]) == {"VCPU", "MEMORY_MB"}
    body = get(client, "1.29", resources="VCPU:1").json()
    # From 1.29 whole trees are summarized, parents and children without inventory too.
    assert set(body["provider_summaries"]) == {
        cloud["cn1"],
        cloud["numa1"],
        cloud["pf1"],
        cloud["cn2"],
    }
    pf1 = body["provider_summaries"][cloud["pf1"]]
    assert pf1["parent_provider_uuid"] == cloud["numa1"]
    assert pf1["root_provider_uuid"] == cn1
    assert body["provider_summaries"][cn1]["parent_provider_uuid"] is None


def test_nested_candidates_from_1_29(client: httpx.Client, cloud: dict[str, str]) -> None:
    assert get(client, "1.28", resources="VCPU:1,SRIOV_NET_VF:1").json() == {
        "allocation_requests": [],
        "provider_summaries": {},
    }
    body = get(client, "1.29", resources="VCPU:1,SRIOV_NET_VF:1").json()
    assert providers_in(body) == [{cloud["cn1"], cloud["pf1"]}]


def test_mappings_from_1_34(client: httpx.Client, cloud: dict[str, str]) -> None:
    params = {"resources": "VCPU:1", "resources_NET": "SRIOV_NET_VF:2", "group_policy": "none"}
    assert "mappings" not in get(client, "1.33", **params).json()["allocation_requests"][0]
    areq = get(client, "1.34", **params).json()["allocation_requests"]
    assert areq == [
        {
            "allocations": {
                cloud["cn1"]: {"resources": {"VCPU": 1}},
                cloud["pf1"]: {"resources": {"SRIOV_NET_VF": 2}},
            },
            "mappings": {"": [cloud["cn1"]], "_NET": [cloud["pf1"]]},
        }
    ]


def test_limit_and_first_value_wins(client: httpx.Client, cloud: dict[str, str]) -> None:
    body = client.get(
        "/allocation_candidates?resources=DISK_GB:10&limit=1&limit=5", headers=_v("1.16")
    ).json()
    assert len(body["allocation_requests"]) == 1
    used = providers_in(body)[0]
    assert set(body["provider_summaries"]) == used
    huge = get(client, "1.16", resources="DISK_GB:10", limit="9" * 30)
    assert huge.status_code == 200
    assert len(huge.json()["allocation_requests"]) == 2  # cn2, ss


def test_unknown_in_tree_is_an_empty_answer(client: httpx.Client, cloud: dict[str, str]) -> None:
    body = get(client, "1.31", resources="VCPU:1", in_tree=str(uuid.uuid4())).json()
    assert body == {"allocation_requests": [], "provider_summaries": {}}


def test_forbidden_trait_with_nested_providers(client: httpx.Client, cloud: dict[str, str]) -> None:
    """Placement answers 500 here on PostgreSQL once nested providers exist (its trait
    filter SQL for trees breaks); berth answers, on every engine."""
    resp = get(client, "1.38", resources="VCPU:1", required="!COMPUTE_STATUS_DISABLED")
    assert resp.status_code == 200, resp.text
    assert providers_in(resp.json()) == [{cloud["cn2"]}]
    resp = get(
        client, "1.38", resources="VCPU:1,SRIOV_NET_VF:1", required="!COMPUTE_STATUS_DISABLED"
    )
    assert resp.status_code == 200
    assert resp.json()["allocation_requests"] == []
    resp = get(client, "1.38", resources="SRIOV_NET_VF:1", required="!COMPUTE_STATUS_DISABLED")
    assert providers_in(resp.json()) == [{cloud["pf1"]}]
