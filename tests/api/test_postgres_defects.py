"""Two queries real Placement gets wrong on PostgreSQL, asserted exactly on every engine.

They are plain correctness tests; they live together because Placement's SQL for them is
engine-sensitive, which is exactly what berth must not be:

* Nova's default scheduling query, ``resources=VCPU:1,MEMORY_MB:512`` with
  ``required=!COMPUTE_STATUS_DISABLED`` (also with a granular group beside it), against
  a cloud with nested NUMA hosts and disabled hosts;
* ``GET /usages?project_id=X`` at 1.38/1.39, grouped by consumer type, filtered by type,
  ``all`` and ``unknown``, and the flat form before 1.38.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

DISABLED = "COMPUTE_STATUS_DISABLED"
NUMA = "HW_NUMA_ROOT"


def _v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement {version}"}


def _uuid(n: int) -> str:
    return str(uuid.UUID(int=n))


class Cloud:
    """Builds providers through the API and remembers what it made."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.uuids: dict[str, str] = {}
        self.parents: dict[str, str | None] = {}
        self.inventory: dict[str, dict[str, dict[str, Any]]] = {}
        self.traits: dict[str, list[str]] = {}

    def provider(
        self,
        name: str,
        inventory: dict[str, dict[str, Any]],
        *,
        parent: str | None = None,
        traits: tuple[str, ...] = (),
    ) -> str:
        rp = _uuid(0x5000 + len(self.uuids))
        body: dict[str, Any] = {"uuid": rp, "name": name}
        if parent is not None:
            body["parent_provider_uuid"] = self.uuids[parent]
        resp = self.client.post("/resource_providers", json=body, headers=_v("1.14"))
        assert resp.status_code == 201, resp.text
        generation = 0
        if inventory:
            resp = self.client.put(
                f"/resource_providers/{rp}/inventories",
                json={"resource_provider_generation": generation, "inventories": inventory},
            )
            assert resp.status_code == 200, resp.text
            generation = resp.json()["resource_provider_generation"]
        if traits:
            resp = self.client.put(
                f"/resource_providers/{rp}/traits",
                json={"resource_provider_generation": generation, "traits": list(traits)},
            )
            assert resp.status_code == 200, resp.text
        self.uuids[name] = rp
        self.parents[name] = parent
        self.inventory[name] = inventory
        self.traits[name] = sorted(traits)
        return rp

    def root(self, name: str) -> str:
        while (parent := self.parents[name]) is not None:
            name = parent
        return name

    def tree(self, root: str) -> list[str]:
        return [n for n in self.uuids if self.root(n) == root]

    def allocate(
        self,
        consumer: str,
        resources: dict[str, dict[str, int]],
        *,
        project: str,
        user: str,
        consumer_type: str | None,
    ) -> None:
        body: dict[str, Any] = {
            "allocations": {self.uuids[n]: {"resources": r} for n, r in resources.items()},
            "project_id": project,
            "user_id": user,
            "consumer_generation": None,
        }
        version = "1.28"
        if consumer_type is not None:
            body["consumer_type"] = consumer_type
            version = "1.38"
        existing = self.client.get(f"/allocations/{consumer}", headers=_v("1.38")).json()
        if existing["allocations"]:
            body["consumer_generation"] = existing["consumer_generation"]
        resp = self.client.put(f"/allocations/{consumer}", json=body, headers=_v(version))
        assert resp.status_code == 204, resp.text


# ---------------------------------------------------------------- allocation candidates

VCPU_MEM = {"VCPU": {"total": 16}, "MEMORY_MB": {"total": 8192}}


@pytest.fixture
def nova_cloud(client: httpx.Client) -> Cloud:
    """Flat and NUMA hosts, enabled and disabled, full and empty.

    cn_flat      VCPU+MEMORY                          -> candidate
    cn_flat_numa VCPU+MEMORY, NUMA children with PCPU -> candidate on the root
    cn_nested    MEMORY; NUMA children VCPU+PCPU      -> candidates root + either child
    cn_avx       VCPU+MEMORY, an unrelated trait      -> candidate
    cn_off       VCPU+MEMORY, disabled                -> never
    cn_off_numa  MEMORY disabled; NUMA children VCPU+PCPU  -> never (root gives MEMORY)
    cn_small     not enough MEMORY_MB                 -> never
    cn_full      MEMORY_MB all allocated              -> never
    """
    cloud = Cloud(client)
    cloud.provider("cn_flat", VCPU_MEM)
    cloud.provider("cn_flat_numa", VCPU_MEM)
    for i in range(2):
        cloud.provider(
            f"cn_flat_numa_{i}", {"PCPU": {"total": 4}}, parent="cn_flat_numa", traits=(NUMA,)
        )
    cloud.provider("cn_nested", {"MEMORY_MB": {"total": 8192, "reserved": 512}})
    for i in range(2):
        cloud.provider(
            f"cn_nested_{i}",
            {"VCPU": {"total": 8, "allocation_ratio": 2.0}, "PCPU": {"total": 4}},
            parent="cn_nested",
            traits=(NUMA,),
        )
    cloud.provider("cn_avx", VCPU_MEM, traits=("HW_CPU_X86_AVX2",))
    cloud.provider("cn_off", VCPU_MEM, traits=(DISABLED,))
    cloud.provider("cn_off_numa", {"MEMORY_MB": {"total": 8192}}, traits=(DISABLED,))
    cloud.provider(
        "cn_off_numa_0",
        {"VCPU": {"total": 8}, "PCPU": {"total": 4}},
        parent="cn_off_numa",
        traits=(NUMA,),
    )
    cloud.provider("cn_small", {"VCPU": {"total": 16}, "MEMORY_MB": {"total": 256}})
    cloud.provider("cn_full", VCPU_MEM)
    cloud.allocate(
        _uuid(0x6000),
        {"cn_full": {"MEMORY_MB": 8000}, "cn_nested_1": {"VCPU": 3}},
        project="p",
        user="u",
        consumer_type="INSTANCE",
    )
    return cloud


def _candidates(resp: httpx.Response) -> list[dict[str, dict[str, int]]]:
    assert resp.status_code == 200, resp.text
    return [
        {rp: alloc["resources"] for rp, alloc in areq["allocations"].items()}
        for areq in resp.json()["allocation_requests"]
    ]


def _canonical(cands: list[dict[str, dict[str, int]]]) -> list[str]:
    return sorted(repr(sorted((rp, sorted(r.items())) for rp, r in c.items())) for c in cands)


def _named(cloud: Cloud, cands: list[dict[str, dict[str, int]]]) -> list[str]:
    by_uuid = {u: n for n, u in cloud.uuids.items()}
    return _canonical([{by_uuid[rp]: r for rp, r in c.items()} for c in cands])


def _summary(cloud: Cloud, name: str, used: dict[str, int]) -> dict[str, Any]:
    resources = {}
    for rc, inv in cloud.inventory[name].items():
        capacity = int((inv["total"] - inv.get("reserved", 0)) * inv.get("allocation_ratio", 1.0))
        resources[rc] = {"capacity": capacity, "used": used.get(rc, 0)}
    parent = cloud.parents[name]
    return {
        "resources": resources,
        "traits": cloud.traits[name],
        "parent_provider_uuid": cloud.uuids[parent] if parent else None,
        "root_provider_uuid": cloud.uuids[cloud.root(name)],
    }


def _check_summaries(cloud: Cloud, resp: httpx.Response, roots: list[str]) -> None:
    """Every provider of every tree with a candidate is summarised, exactly."""
    used = {"cn_nested_1": {"VCPU": 3}, "cn_full": {"MEMORY_MB": 8000}}
    got = resp.json()["provider_summaries"]
    for body in got.values():
        body["traits"] = sorted(body["traits"])
    want = {
        cloud.uuids[n]: _summary(cloud, n, used.get(n, {})) for r in roots for n in cloud.tree(r)
    }
    assert got == want


def _mappings(resp: httpx.Response) -> list[dict[str, list[str]]]:
    return [
        {group: sorted(rps) for group, rps in areq["mappings"].items()}
        for areq in resp.json()["allocation_requests"]
    ]


@pytest.mark.parametrize("version", ["1.34", "1.39"])
def test_nova_default_query_skips_disabled_hosts_and_keeps_nested_ones(
    client: httpx.Client, nova_cloud: Cloud, version: str
) -> None:
    cloud = nova_cloud
    resp = client.get(
        "/allocation_candidates",
        params={"resources": "VCPU:1,MEMORY_MB:512", "required": f"!{DISABLED}"},
        headers=_v(version),
    )
    mem, vcpu = {"MEMORY_MB": 512}, {"VCPU": 1}
    assert _named(cloud, _candidates(resp)) == _canonical(
        [
            {"cn_flat": vcpu | mem},
            {"cn_flat_numa": vcpu | mem},
            {"cn_nested": mem, "cn_nested_0": vcpu},
            {"cn_nested": mem, "cn_nested_1": vcpu},
            {"cn_avx": vcpu | mem},
        ]
    )
    _check_summaries(cloud, resp, ["cn_flat", "cn_flat_numa", "cn_nested", "cn_avx"])
    for areq, mapping in zip(_candidates(resp), _mappings(resp), strict=True):
        assert mapping == {"": sorted(areq)}


def test_nova_default_query_with_a_granular_group(client: httpx.Client, nova_cloud: Cloud) -> None:
    """Dedicated CPUs from one NUMA node beside the unsuffixed VCPU/MEMORY request."""
    cloud = nova_cloud
    resp = client.get(
        "/allocation_candidates",
        params={
            "resources": "VCPU:1,MEMORY_MB:512",
            "required": f"!{DISABLED}",
            "resources1": "PCPU:2",
            "required1": NUMA,
            "group_policy": "none",
        },
        headers=_v("1.39"),
    )
    mem, vcpu, pcpu = {"MEMORY_MB": 512}, {"VCPU": 1}, {"PCPU": 2}
    want = [
        {"cn_flat_numa": vcpu | mem, "cn_flat_numa_0": pcpu},
        {"cn_flat_numa": vcpu | mem, "cn_flat_numa_1": pcpu},
    ]
    for v in range(2):
        for p in range(2):
            want.append(
                {"cn_nested": mem, f"cn_nested_{v}": vcpu}
                if v != p
                else {"cn_nested": mem, f"cn_nested_{v}": vcpu | pcpu}
            )
            if v != p:
                want[-1][f"cn_nested_{p}"] = pcpu
    assert _named(cloud, _candidates(resp)) == _canonical(want)
    _check_summaries(cloud, resp, ["cn_flat_numa", "cn_nested"])
    by_uuid = {u: n for n, u in cloud.uuids.items()}
    for mapping in _mappings(resp):
        assert set(mapping) == {"", "1"}
        assert [by_uuid[u].rsplit("_", 1)[0] for u in mapping["1"]] in (
            ["cn_flat_numa"],
            ["cn_nested"],
        )


def test_granular_group_forbidding_the_trait_keeps_only_single_provider_hosts(
    client: httpx.Client, nova_cloud: Cloud
) -> None:
    """In a numbered group every resource comes from one provider, which lacks the trait."""
    cloud = nova_cloud
    resp = client.get(
        "/allocation_candidates",
        params={"resources1": "VCPU:1,MEMORY_MB:512", "required1": f"!{DISABLED}"},
        headers=_v("1.39"),
    )
    both = {"VCPU": 1, "MEMORY_MB": 512}
    assert _named(cloud, _candidates(resp)) == _canonical(
        [{"cn_flat": both}, {"cn_flat_numa": both}, {"cn_avx": both}]
    )
    _check_summaries(cloud, resp, ["cn_flat", "cn_flat_numa", "cn_avx"])


# ---------------------------------------------------------------- usages by consumer type

PROJECT, OTHER_PROJECT = "proj-usage", "proj-other"
ALICE, BOB = "alice", "bob"


@pytest.fixture
def typed_usage(client: httpx.Client) -> Cloud:
    """Consumers of three types (one untyped), two users, two projects, a nested host."""
    cloud = Cloud(client)
    cloud.provider("host", {"VCPU": {"total": 64}, "MEMORY_MB": {"total": 65536},
                            "DISK_GB": {"total": 1000}})  # fmt: skip
    cloud.provider("numa", {"VCPU": {"total": 32}, "PCPU": {"total": 16}}, parent="host")
    alloc = cloud.allocate
    alloc(_uuid(0x7001), {"host": {"VCPU": 2, "MEMORY_MB": 1024}},
          project=PROJECT, user=ALICE, consumer_type="INSTANCE")  # fmt: skip
    alloc(_uuid(0x7002), {"host": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 10}},
          project=PROJECT, user=BOB, consumer_type="INSTANCE")  # fmt: skip
    # Spans two providers: still one consumer in the counts.
    alloc(_uuid(0x7003), {"host": {"MEMORY_MB": 2048}, "numa": {"PCPU": 4}},
          project=PROJECT, user=ALICE, consumer_type="INSTANCE")  # fmt: skip
    # Written as an instance, then re-typed as a migration.
    alloc(_uuid(0x7004), {"host": {"VCPU": 4}},
          project=PROJECT, user=ALICE, consumer_type="INSTANCE")  # fmt: skip
    alloc(_uuid(0x7004), {"host": {"VCPU": 4, "DISK_GB": 40}},
          project=PROJECT, user=ALICE, consumer_type="MIGRATION")  # fmt: skip
    # Written before 1.38: no type, shown as "unknown".
    alloc(_uuid(0x7005), {"numa": {"VCPU": 8}, "host": {"DISK_GB": 100}},
          project=PROJECT, user=BOB, consumer_type=None)  # fmt: skip
    # Another project's instance never counts here.
    alloc(_uuid(0x7006), {"host": {"VCPU": 16, "MEMORY_MB": 4096}},
          project=OTHER_PROJECT, user=ALICE, consumer_type="INSTANCE")  # fmt: skip
    # Released again: gone from every count.
    alloc(_uuid(0x7007), {"host": {"VCPU": 1}},
          project=PROJECT, user=ALICE, consumer_type="INSTANCE")  # fmt: skip
    assert client.delete(f"/allocations/{_uuid(0x7007)}").status_code == 204
    return cloud


def _usages(client: httpx.Client, version: str, **params: str) -> Any:
    resp = client.get("/usages", params=params, headers=_v(version))
    assert resp.status_code == 200, resp.text
    return resp.json()


INSTANCE = {"consumer_count": 3, "VCPU": 3, "MEMORY_MB": 3584, "DISK_GB": 10, "PCPU": 4}
MIGRATION = {"consumer_count": 1, "VCPU": 4, "DISK_GB": 40}
UNKNOWN = {"consumer_count": 1, "VCPU": 8, "DISK_GB": 100}
ALL = {"consumer_count": 5, "VCPU": 15, "MEMORY_MB": 3584, "DISK_GB": 150, "PCPU": 4}


@pytest.mark.parametrize("version", ["1.38", "1.39"])
def test_usages_grouped_by_consumer_type(
    client: httpx.Client, typed_usage: Cloud, version: str
) -> None:
    got = _usages(client, version, project_id=PROJECT)
    assert got == {"usages": {"INSTANCE": INSTANCE, "MIGRATION": MIGRATION, "unknown": UNKNOWN}}
    got = _usages(client, version, project_id=OTHER_PROJECT)
    assert got == {"usages": {"INSTANCE": {"consumer_count": 1, "VCPU": 16, "MEMORY_MB": 4096}}}
    assert _usages(client, version, project_id="nobody") == {"usages": {}}


FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("INSTANCE", {"INSTANCE": INSTANCE}),
    ("MIGRATION", {"MIGRATION": MIGRATION}),
    ("unknown", {"unknown": UNKNOWN}),
    ("all", {"all": ALL}),
    # Only the exact lower-case words are special; unknown types match nothing.
    ("UNKNOWN", {}),
    ("ALL", {}),
    ("COW", {}),
]


@pytest.mark.parametrize("version", ["1.38", "1.39"])
def test_usages_filtered_by_consumer_type(
    client: httpx.Client, typed_usage: Cloud, version: str
) -> None:
    for consumer_type, expected in FILTERS:
        got = _usages(client, version, project_id=PROJECT, consumer_type=consumer_type)
        assert got == {"usages": expected}, consumer_type
    got = _usages(client, version, project_id=OTHER_PROJECT, consumer_type="unknown")
    assert got == {"usages": {}}


@pytest.mark.parametrize("version", ["1.38", "1.39"])
def test_usages_by_type_for_one_user(
    client: httpx.Client, typed_usage: Cloud, version: str
) -> None:
    got = _usages(client, version, project_id=PROJECT, user_id=ALICE)
    assert got == {
        "usages": {
            "INSTANCE": {"consumer_count": 2, "VCPU": 2, "MEMORY_MB": 3072, "PCPU": 4},
            "MIGRATION": MIGRATION,
        }
    }
    got = _usages(client, version, project_id=PROJECT, user_id=BOB, consumer_type="all")
    assert got == {
        "usages": {"all": {"consumer_count": 2, "VCPU": 9, "MEMORY_MB": 512, "DISK_GB": 110}}
    }
    got = _usages(client, version, project_id=PROJECT, user_id=BOB, consumer_type="unknown")
    assert got == {"usages": {"unknown": UNKNOWN}}
    got = _usages(client, version, project_id=OTHER_PROJECT, user_id=BOB)
    assert got == {"usages": {}}


def test_usages_before_consumer_types_are_flat(client: httpx.Client, typed_usage: Cloud) -> None:
    flat = {k: v for k, v in ALL.items() if k != "consumer_count"}
    assert _usages(client, "1.37", project_id=PROJECT) == {"usages": flat}
    assert _usages(client, "1.9", project_id=PROJECT, user_id=ALICE) == {
        "usages": {"VCPU": 6, "MEMORY_MB": 3072, "DISK_GB": 40, "PCPU": 4}
    }
    resp = client.get(
        "/usages", params={"project_id": PROJECT, "consumer_type": "all"}, headers=_v("1.37")
    )
    assert resp.status_code == 400, resp.text
