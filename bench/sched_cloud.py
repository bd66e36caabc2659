"""The scheduler benchmark's cloud: plain compute nodes plus NFV hosts with a NUMA topology.

``--hosts`` compute nodes, ``--nfv-share`` of them NFV hosts. A plain host is one provider
(VCPU 64 x 4.0, MEMORY_MB 256 GiB - 4 GiB reserved x 1.0, DISK_GB 4 TB). An NFV host
registers its topology through ``PUT /berth/v1/hosts/{uuid}/topology``, as a compute
agent would: 2 NUMA cells, each 4 shared + 24 dedicated CPUs as hyper-thread pairs,
96 GiB of memory of which 16 GiB are 2 MiB pages and 32 GiB are 1 GiB pages, and one
SR-IOV PF with 16 VFs (cell 0 on ``physnet1``, cell 1 on ``physnet2``); berth mirrors it
into Placement (VCPU/PCPU/MEMORY_MB on the root, one child provider per PF). Hosts sit in
three availability-zone aggregates (``az1``..``az3``) so the zone filter has work to do.

The roots are created in bulk (``POST /berth/v1/provider_trees``), the topologies by a
small pool of threads, the aggregates' metadata by ``PUT /berth/v1/aggregates/{uuid}/
metadata``.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

ZONES = ("az1", "az2", "az3")
PLAIN_INVENTORY = {
    "VCPU": {"total": 64, "allocation_ratio": 4.0},
    "MEMORY_MB": {"total": 262144, "reserved": 4096, "allocation_ratio": 1.0},
    "DISK_GB": {"total": 4000, "allocation_ratio": 1.0},
}
NFV_DISK = {"DISK_GB": {"total": 2000, "allocation_ratio": 1.0}}
CORES_PER_CELL = 14  # 28 threads: 4 shared + 24 dedicated
SHARED_PER_CELL = 4
CELL_MEMORY_MB = 98304
PAGES_2M = 8192  # 16 GiB per cell
PAGES_1G = 32  # 32 GiB per cell
VFS_PER_PF = 16
PHYSNETS = ("physnet1", "physnet2")


@dataclass(frozen=True, slots=True)
class Host:
    uuid: str
    name: str
    zone: str
    nfv: bool


@dataclass
class SchedCloud:
    hosts: list[Host]
    zone_aggregates: dict[str, str]
    load: dict[str, Any] = field(default_factory=dict)

    @property
    def nfv_hosts(self) -> list[Host]:
        return [h for h in self.hosts if h.nfv]


def build(hosts: int, nfv_share: float, seed: int = 7) -> SchedCloud:
    rng = random.Random(seed)
    nfv_count = round(hosts * nfv_share)
    nfv_at = set(rng.sample(range(hosts), nfv_count))
    made = [
        Host(
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            f"cn-{i:06d}",
            ZONES[i % len(ZONES)],
            i in nfv_at,
        )
        for i in range(hosts)
    ]
    zones = {z: str(uuid.UUID(int=rng.getrandbits(128), version=4)) for z in ZONES}
    return SchedCloud(made, zones)


def nfv_topology() -> dict[str, Any]:
    """The topology document every NFV host registers (same shape, own addresses)."""
    cells = []
    devices: list[dict[str, Any]] = []
    threads = 2 * CORES_PER_CELL
    for c in range(2):
        base = c * threads
        cpus = list(range(base, base + threads))
        siblings = [[base + k, base + k + CORES_PER_CELL] for k in range(CORES_PER_CELL)]
        shared = [x for pair in siblings[: SHARED_PER_CELL // 2] for x in pair]
        dedicated = [x for x in cpus if x not in shared]
        small_pages = (CELL_MEMORY_MB - PAGES_2M * 2 - PAGES_1G * 1024) * 256
        cells.append(
            {
                "id": c,
                "socket": c,
                "shared_cpus": shared,
                "dedicated_cpus": dedicated,
                "siblings": siblings,
                "memory_mb": CELL_MEMORY_MB,
                "pages": [
                    {"size_kb": 4, "total": small_pages, "reserved": 0},
                    {"size_kb": 2048, "total": PAGES_2M, "reserved": 0},
                    {"size_kb": 1048576, "total": PAGES_1G, "reserved": 0},
                ],
            }
        )
        bus = 0x81 + c
        pf = f"0000:{bus:02x}:00.0"
        devices.append(
            {
                "address": pf,
                "vendor_id": "8086",
                "product_id": "1572",
                "device_type": "type-PF",
                "numa_cell": c,
                "physnet": PHYSNETS[c],
            }
        )
        for v in range(VFS_PER_PF):
            devices.append(
                {
                    "address": f"0000:{bus:02x}:02.{v:x}"
                    if v < 8
                    else f"0000:{bus:02x}:03.{v - 8:x}",
                    "vendor_id": "8086",
                    "product_id": "154c",
                    "device_type": "type-VF",
                    "numa_cell": c,
                    "physnet": PHYSNETS[c],
                    "parent_address": pf,
                }
            )
    return {
        "cells": cells,
        "devices": devices,
        "cpu_allocation_ratio": 4.0,
        "ram_allocation_ratio": 1.0,
        "reserved_host_memory_mb": 0,
    }


def _batches(cloud: SchedCloud, size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for h in cloud.hosts:
        inventories = NFV_DISK if h.nfv else PLAIN_INVENTORY
        batch.append(
            {
                "uuid": h.uuid,
                "name": h.name,
                "inventories": inventories,
                "traits": [],
                "aggregates": [cloud.zone_aggregates[h.zone]],
            }
        )
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:500]}")


def load(client_factory: Any, cloud: SchedCloud, threads: int = 4) -> dict[str, Any]:
    """Load ``cloud`` through the API; ``client_factory()`` gives a fresh httpx.Client."""
    started = time.perf_counter()
    with client_factory() as client:
        for batch in _batches(cloud, 1000):
            _check(client.post("/berth/v1/provider_trees", json={"providers": batch}), "bulk")
        for zone, agg in cloud.zone_aggregates.items():
            _check(
                client.put(
                    f"/berth/v1/aggregates/{agg}/metadata",
                    json={"name": zone, "metadata": {"availability_zone": zone}},
                ),
                f"zone {zone}",
            )
    roots_s = time.perf_counter() - started
    doc = nfv_topology()
    nfv = cloud.nfv_hosts

    def register(chunk: list[Host]) -> None:
        with client_factory() as c:
            for h in chunk:
                _check(c.put(f"/berth/v1/hosts/{h.uuid}/topology", json=doc), h.name)

    chunks = [nfv[i::threads] for i in range(threads)]
    topo_started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(register, chunks))
    topo_s = time.perf_counter() - topo_started
    cloud.load = {
        "hosts": len(cloud.hosts),
        "nfv_hosts": len(nfv),
        "roots_bulk_s": round(roots_s, 2),
        "topologies_s": round(topo_s, 2),
        "topologies_per_s": round(len(nfv) / topo_s, 1) if topo_s else None,
    }
    return cloud.load
