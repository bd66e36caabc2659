"""The benchmark cloud: a seeded, reproducible set of provider trees.

Both systems get byte-identical clouds (same uuids, names, inventories, traits and
aggregates) so that every difference in the numbers comes from the server, not the data.
The shape follows a typical Nova deployment: compute nodes with VCPU/MEMORY_MB/DISK_GB,
some NUMA-modelled nodes (two NUMA children with PCPU, each with an SR-IOV NIC child),
one shared-storage pool reached through an aggregate, and a sprinkle of traits.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

AVX2 = "HW_CPU_X86_AVX2"
DISABLED = "COMPUTE_STATUS_DISABLED"
NUMA_ROOT = "HW_NUMA_ROOT"
SHARES = "MISC_SHARES_VIA_AGGREGATE"
RACKS = ("CUSTOM_RACK_A", "CUSTOM_RACK_B", "CUSTOM_RACK_C", "CUSTOM_RACK_D")
GPU = "CUSTOM_GPU_CLASS"
PHYSNET1 = "CUSTOM_PHYSNET_NET1"
PHYSNET2 = "CUSTOM_PHYSNET_NET2"
PHYSNETS = (PHYSNET1, PHYSNET2)
CUSTOM_TRAITS = (*RACKS, GPU, PHYSNET1, PHYSNET2)
AGGREGATE_COUNT = 8


@dataclass(frozen=True, slots=True)
class InventorySpec:
    total: int
    reserved: int = 0
    allocation_ratio: float = 1.0
    min_unit: int = 1
    step_size: int = 1

    def as_json(self) -> dict[str, int | float]:
        return {
            "total": self.total,
            "reserved": self.reserved,
            "allocation_ratio": self.allocation_ratio,
            "min_unit": self.min_unit,
            "max_unit": self.total,
            "step_size": self.step_size,
        }

    @property
    def capacity(self) -> int:
        """What may be allocated: Placement's ``int((total - reserved) * ratio)``."""
        return int((self.total - self.reserved) * self.allocation_ratio)


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    uuid: str
    name: str
    parent_uuid: str | None
    inventories: Mapping[str, InventorySpec]
    traits: tuple[str, ...] = ()
    aggregates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TreeSpec:
    """One provider tree, parents listed before their children."""

    providers: tuple[ProviderSpec, ...]


@dataclass(frozen=True, slots=True)
class CloudSpec:
    seed: int
    compute_nodes: int
    trees: tuple[TreeSpec, ...]
    aggregates: tuple[str, ...]
    sharing_aggregate: str
    custom_traits: tuple[str, ...] = CUSTOM_TRAITS
    stats: Mapping[str, int] = field(default_factory=dict)

    @property
    def providers(self) -> list[ProviderSpec]:
        return [p for tree in self.trees for p in tree.providers]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _numa_children(rng: random.Random, node: str, root: str) -> list[ProviderSpec]:
    out: list[ProviderSpec] = []
    for cell in range(2):
        numa = ProviderSpec(
            uuid=_uuid(rng),
            name=f"{node}-numa{cell}",
            parent_uuid=root,
            inventories={"PCPU": InventorySpec(total=rng.choice((16, 24, 32)))},
            traits=(NUMA_ROOT,),
        )
        # Mostly NET1 on cell 0 and NET2 on cell 1; sometimes either one on both cells.
        physnet = (PHYSNET1, PHYSNET2)[cell] if rng.random() < 0.8 else rng.choice(PHYSNETS)
        nic = ProviderSpec(
            uuid=_uuid(rng),
            name=f"{node}-numa{cell}-nic",
            parent_uuid=numa.uuid,
            inventories={"SRIOV_NET_VF": InventorySpec(total=rng.choice((8, 16, 32, 64)))},
            traits=(physnet,),
        )
        out += [numa, nic]
    return out


def build_cloud(compute_nodes: int, seed: int = 42) -> CloudSpec:
    """The cloud of ``compute_nodes`` compute nodes (plus children and one sharing pool)."""
    rng = random.Random(seed)
    aggregates = tuple(_uuid(rng) for _ in range(AGGREGATE_COUNT))
    sharing_aggregate = _uuid(rng)
    trees: list[TreeSpec] = []
    stats = {"numa_nodes": 0, "shared_disk_nodes": 0, "avx2": 0, "disabled": 0, "gpu": 0}
    for i in range(compute_nodes):
        name = f"cn{i:06d}"
        root = _uuid(rng)
        shared_disk = rng.random() < 0.2
        inventories: dict[str, InventorySpec] = {
            "VCPU": InventorySpec(total=rng.choice((32, 48, 64, 96, 128)), allocation_ratio=4.0),
            "MEMORY_MB": InventorySpec(
                total=rng.choice((128, 192, 256, 384, 512)) * 1024,
                reserved=512,
                allocation_ratio=rng.choice((1.0, 1.0, 1.5)),
            ),
        }
        if not shared_disk:
            inventories["DISK_GB"] = InventorySpec(total=rng.choice((500, 1000, 2000, 4000)))
        traits = [rng.choice(RACKS)]
        if rng.random() < 0.5:
            traits.append(AVX2)
            stats["avx2"] += 1
        if rng.random() < 0.05:
            traits.append(GPU)
            stats["gpu"] += 1
        if rng.random() < 0.03:
            traits.append(DISABLED)
            stats["disabled"] += 1
        aggs = [aggregates[i % AGGREGATE_COUNT]]
        if rng.random() < 0.1:
            aggs.append(aggregates[(i + 3) % AGGREGATE_COUNT])
        if shared_disk:
            aggs.append(sharing_aggregate)
            stats["shared_disk_nodes"] += 1
        providers = [
            ProviderSpec(root, name, None, inventories, tuple(sorted(traits)), tuple(aggs))
        ]
        if rng.random() < 0.1:
            providers += _numa_children(rng, name, root)
            stats["numa_nodes"] += 1
        trees.append(TreeSpec(tuple(providers)))
    pool = ProviderSpec(
        uuid=_uuid(rng),
        name="shared-storage-0",
        parent_uuid=None,
        inventories={"DISK_GB": InventorySpec(total=max(100_000, 1000 * compute_nodes))},
        traits=(SHARES,),
        aggregates=(sharing_aggregate,),
    )
    trees.append(TreeSpec((pool,)))
    stats["providers"] = sum(len(t.providers) for t in trees)
    return CloudSpec(
        seed=seed,
        compute_nodes=compute_nodes,
        trees=tuple(trees),
        aggregates=aggregates,
        sharing_aggregate=sharing_aggregate,
        stats=stats,
    )
