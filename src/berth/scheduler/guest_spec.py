"""From ``hw:*`` extra specs and image properties to the guest's typed CPU/NUMA shape.

Nova spreads these rules over many functions and applies some only on the compute node,
so a contradictory flavor often fails after it was scheduled. berth checks them all when
the request arrives and builds one ``GuestTopology`` the NUMA fitting can trust:

- CPU policy: the flavor decides; an image may only ask for what the flavor leaves open
  (a ``shared`` flavor refuses an image asking ``dedicated``/``mixed``, a ``mixed`` one
  refuses ``dedicated``). ``resources:PCPU`` without a policy means ``dedicated`` and
  ``resources:VCPU`` means ``shared``; mixing either with ``hw:cpu_policy`` is refused.
- Thread policy, emulator thread isolation, realtime and the dedicated mask only make
  sense with pinned CPUs; ``trait:HW_CPU_HYPERTHREADING`` stands for a thread policy.
- Guest NUMA cells: ``hw:numa_nodes`` split evenly, or exactly as ``hw:numa_cpus.N`` /
  ``hw:numa_mem.N`` say (every CPU once, memory adding up to the flavor's); the flavor and
  the image may not both shape them. The page size (``berth.scheduler.image_props``)
  must divide each cell's memory.

A guest gets a topology when it asks for NUMA nodes, pinned CPUs, a page size, or a PCI
device with strict NUMA affinity (``required``/``socket``); otherwise it floats (None).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from berth.model.errors import InvalidError
from berth.model.guest import (
    CpuPolicy,
    EmulatorThreads,
    GuestCell,
    GuestTopology,
    PageKind,
    PageRequest,
    PciNumaPolicy,
    PciRequest,
    ThreadPolicy,
)
from berth.model.schedule import Flavor
from berth.scheduler.image_props import ImageProps
from berth.scheduler.spec_keys import (
    indexed_specs,
    parse_bool,
    parse_cpu_mask,
    parse_cpu_set,
    parse_enum,
    parse_int,
)

HT_TRAIT = "HW_CPU_HYPERTHREADING"
_PINNED = "hw:cpu_policy=dedicated or mixed"


@dataclass(frozen=True, slots=True)
class CpuPlan:
    """The guest's effective CPU policy and which guest CPUs are pinned.

    ``hyperthreading`` is the ``HW_CPU_HYPERTHREADING`` requirement the thread policy
    adds to the Placement query (``required`` for ``require``, ``forbidden`` for
    ``isolate``), as Nova adds it; None when the trait was asked for directly.
    ``explicit_pcpus`` says ``resources:PCPU`` already requests the pinned CPUs.
    """

    policy: CpuPolicy
    vcpus: int
    dedicated: frozenset[int] = frozenset()
    thread_policy: ThreadPolicy | None = None
    emulator: EmulatorThreads = EmulatorThreads.SHARE
    hyperthreading: str | None = None
    explicit_pcpus: bool = False

    @property
    def pcpus(self) -> int:
        """Host CPUs to pin: one per dedicated guest CPU, plus one for isolated emulator
        threads."""
        extra = 1 if self.emulator is EmulatorThreads.ISOLATE else 0
        return len(self.dedicated) + extra

    @property
    def shared(self) -> int:
        return self.vcpus - len(self.dedicated)


def _cpu_policy(specs: Mapping[str, str], image: ImageProps) -> CpuPolicy | None:
    raw = specs.get("hw:cpu_policy")
    flavor = parse_enum("hw:cpu_policy", raw, CpuPolicy) if raw is not None else None
    wanted = image.cpu_policy
    if flavor is None:
        return wanted
    forbidden = {
        CpuPolicy.SHARED: (CpuPolicy.DEDICATED, CpuPolicy.MIXED),
        CpuPolicy.MIXED: (CpuPolicy.DEDICATED,),
        CpuPolicy.DEDICATED: (),
    }[flavor]
    if wanted in forbidden:
        raise InvalidError(
            f"image property hw_cpu_policy={wanted} conflicts with the flavor's "
            f"hw:cpu_policy={flavor}"
        )
    return flavor


def _thread_policy(
    specs: Mapping[str, str], image: ImageProps
) -> tuple[ThreadPolicy | None, str]:
    raw = specs.get("hw:cpu_thread_policy")
    flavor = parse_enum("hw:cpu_thread_policy", raw, ThreadPolicy) if raw is not None else None
    wanted = image.thread_policy
    if flavor in (None, ThreadPolicy.PREFER) and wanted is not None:
        return wanted, "image property hw_cpu_thread_policy"
    if wanted is not None and wanted is not flavor:
        raise InvalidError(
            f"image property hw_cpu_thread_policy={wanted} conflicts with the flavor's "
            f"hw:cpu_thread_policy={flavor}"
        )
    return flavor, "hw:cpu_thread_policy"


def _realtime_on(specs: Mapping[str, str]) -> bool:
    return parse_bool("hw:cpu_realtime", specs.get("hw:cpu_realtime", "no"))


def _realtime(
    specs: Mapping[str, str], image: ImageProps, vcpus: int
) -> frozenset[int] | None:
    if not _realtime_on(specs):
        return None
    key, mask = "image property hw_cpu_realtime_mask", image.realtime_mask
    if mask is None:
        key, mask = "hw:cpu_realtime_mask", specs.get("hw:cpu_realtime_mask")
    cpus = frozenset(range(vcpus)) if mask is None else parse_cpu_mask(key, mask, vcpus)
    if not cpus:
        raise InvalidError(f"{key} leaves no realtime vCPU")
    if len(cpus) == vcpus and "hw:emulator_threads_policy" not in specs:
        raise InvalidError(
            "hw:cpu_realtime needs hw:cpu_realtime_mask to leave at least one vCPU for the "
            "emulator threads, or hw:emulator_threads_policy"
        )
    return cpus


def resolve_cpu(
    flavor: Flavor,
    image: ImageProps,
    *,
    requested_vcpus: int,
    requested_pcpus: int,
    hyperthreading: str | None,
) -> CpuPlan:
    """The effective CPU plan; ``requested_*`` are the ``resources*:VCPU/PCPU`` amounts and
    ``hyperthreading`` the value of a ``trait*:HW_CPU_HYPERTHREADING`` spec or image trait."""
    specs, vcpus = flavor.specs, flavor.vcpus
    policy = _cpu_policy(specs, image)
    thread, thread_key = _thread_policy(specs, image)
    emulator = parse_enum(
        "hw:emulator_threads_policy",
        specs.get("hw:emulator_threads_policy", "share"),
        EmulatorThreads,
    )
    if policy is not None and (requested_vcpus or requested_pcpus):
        raise InvalidError(
            "resources:VCPU and resources:PCPU cannot be combined with hw:cpu_policy "
            "(or image property hw_cpu_policy); use one or the other"
        )
    if requested_vcpus and requested_pcpus:
        raise InvalidError("resources:VCPU and resources:PCPU cannot both be given")
    if requested_pcpus:
        want = vcpus + (1 if emulator is EmulatorThreads.ISOLATE else 0)
        if requested_pcpus != want:
            extra = " plus one for hw:emulator_threads_policy=isolate" if want > vcpus else ""
            raise InvalidError(
                f"resources:PCPU={requested_pcpus} must equal the flavor's {vcpus} vCPUs{extra}"
            )
        policy = CpuPolicy.DEDICATED
    if requested_vcpus:
        policy = CpuPolicy.SHARED
    ht_trait = None
    if hyperthreading is not None:
        if thread is not None:
            raise InvalidError(
                f"trait:{HT_TRAIT} cannot be combined with {thread_key}; use one or the other"
            )
        thread = ThreadPolicy.ISOLATE if hyperthreading == "forbidden" else ThreadPolicy.REQUIRE
        thread_key = f"trait:{HT_TRAIT}={hyperthreading}"
    elif thread is ThreadPolicy.REQUIRE:
        ht_trait = "required"
    elif thread is ThreadPolicy.ISOLATE:
        ht_trait = "forbidden"
    policy = policy or CpuPolicy.SHARED
    mask_text = specs.get("hw:cpu_dedicated_mask")
    if policy is CpuPolicy.SHARED:
        if thread is not None:
            raise InvalidError(f"{thread_key} requires {_PINNED}")
        if emulator is EmulatorThreads.ISOLATE:
            raise InvalidError(f"hw:emulator_threads_policy=isolate requires {_PINNED}")
        if mask_text is not None:
            raise InvalidError("hw:cpu_dedicated_mask requires hw:cpu_policy=mixed")
        if _realtime_on(specs):
            raise InvalidError(f"hw:cpu_realtime requires {_PINNED}")
        return CpuPlan(policy, vcpus)
    realtime = _realtime(specs, image, vcpus)
    if policy is CpuPolicy.DEDICATED:
        if mask_text is not None:
            raise InvalidError("hw:cpu_dedicated_mask requires hw:cpu_policy=mixed, not dedicated")
        dedicated = frozenset(range(vcpus))
    else:
        if mask_text is not None and realtime is not None:
            raise InvalidError(
                "hw:cpu_policy=mixed takes its dedicated vCPUs from hw:cpu_dedicated_mask or "
                "hw:cpu_realtime_mask, not both"
            )
        if mask_text is None and realtime is None:
            raise InvalidError("hw:cpu_policy=mixed requires hw:cpu_dedicated_mask")
        if mask_text is not None:
            dedicated = parse_cpu_mask("hw:cpu_dedicated_mask", mask_text, vcpus)
        else:
            assert realtime is not None
            dedicated = realtime
        if not dedicated or len(dedicated) == vcpus:
            raise InvalidError(
                "hw:cpu_dedicated_mask must leave at least one shared and one dedicated vCPU "
                "with hw:cpu_policy=mixed"
            )
    return CpuPlan(
        policy=policy,
        vcpus=vcpus,
        dedicated=dedicated,
        thread_policy=thread or ThreadPolicy.PREFER,
        emulator=emulator,
        hyperthreading=ht_trait,
        explicit_pcpus=requested_pcpus > 0,
    )


def _numa_lists(
    specs: Mapping[str, str], image: ImageProps
) -> tuple[str, dict[int, frozenset[int]] | None, dict[int, int] | None]:
    """(key prefix for messages, cpus per node, memory per node) from flavor or image."""
    cpus = {
        n: parse_cpu_set(f"hw:numa_cpus.{n}", v)
        for n, v in indexed_specs(specs, "hw:numa_cpus.").items()
    }
    mem = {
        n: parse_int(f"hw:numa_mem.{n}", v, 1)
        for n, v in indexed_specs(specs, "hw:numa_mem.").items()
    }
    if cpus or mem:
        for name, mine, theirs in (("cpus", cpus, image.numa_cpus), ("mem", mem, image.numa_mem)):
            if mine and theirs:
                raise InvalidError(
                    f"image property hw_numa_{name}.N cannot override the flavor's "
                    f"hw:numa_{name}.N"
                )
        return "hw:", cpus or None, mem or None
    return "hw_", image.numa_cpus, image.numa_mem


def _nodes(specs: Mapping[str, str], image: ImageProps) -> tuple[str, int | None]:
    """(the key that set it, guest NUMA node count) from the flavor or the image."""
    key = "hw:numa_nodes"
    flavor = parse_int(key, specs[key], 1) if key in specs else None
    if flavor is not None and image.numa_nodes is not None:
        raise InvalidError(f"image property hw_numa_nodes cannot override the flavor's {key}")
    if flavor is None and image.numa_nodes is not None:
        return "hw_numa_nodes", image.numa_nodes
    return key, flavor


def _check_indices(prefix: str, name: str, given: Mapping[int, object], nodes: int) -> None:
    for index in sorted(given):
        if index >= nodes:
            raise InvalidError(
                f"{prefix}numa_{name}.{index} names guest node {index}, but the guest has "
                f"{nodes} NUMA nodes (0-{nodes - 1})"
            )
    for index in range(nodes):
        if index not in given:
            raise InvalidError(
                f"{prefix}numa_{name}.{index} is missing: with {nodes} guest NUMA nodes, "
                "every node needs one"
            )


def _manual_cells(
    prefix: str,
    flavor: Flavor,
    nodes: int,
    cpus: Mapping[int, frozenset[int]],
    mem: Mapping[int, int],
) -> list[tuple[frozenset[int], int]]:
    _check_indices(prefix, "cpus", cpus, nodes)
    _check_indices(prefix, "mem", mem, nodes)
    owner: dict[int, int] = {}
    for node in range(nodes):
        key = f"{prefix}numa_cpus.{node}"
        if not cpus[node]:
            raise InvalidError(f"{key} gives guest node {node} no CPUs")
        for cpu in sorted(cpus[node]):
            if cpu >= flavor.vcpus:
                raise InvalidError(
                    f"{key} names guest CPU {cpu}, but the flavor has {flavor.vcpus} vCPUs "
                    f"(0-{flavor.vcpus - 1})"
                )
            if cpu in owner:
                raise InvalidError(f"{key}: guest CPU {cpu} is already in node {owner[cpu]}")
            owner[cpu] = node
    unassigned = sorted(set(range(flavor.vcpus)) - set(owner))
    if unassigned:
        raise InvalidError(
            f"{prefix}numa_cpus.N leave guest CPUs {_cpu_list(unassigned)} in no node"
        )
    total = sum(mem.values())
    if total != flavor.memory_mb:
        raise InvalidError(
            f"{prefix}numa_mem.N add up to {total} MB, but the flavor has {flavor.memory_mb} MB"
        )
    return [(cpus[node], mem[node]) for node in range(nodes)]


def _cpu_list(cpus: Sequence[int]) -> str:
    return ",".join(str(c) for c in cpus)


def build_guest(
    flavor: Flavor,
    image: ImageProps,
    cpu: CpuPlan,
    pages: PageRequest | None,
    pci: tuple[PciRequest, ...],
) -> GuestTopology | None:
    """The guest's NUMA topology, or None when nothing ties it to host NUMA cells."""
    specs = flavor.specs
    nodes_key, nodes = _nodes(specs, image)
    prefix, cpus, mem = _numa_lists(specs, image)
    if (cpus or mem) and nodes is None:
        first = "cpus" if cpus else "mem"
        raise InvalidError(
            f"{prefix}numa_{first}.N requires hw:numa_nodes (or image property hw_numa_nodes)"
        )
    strict_pci = any(p.numa_policy in (PciNumaPolicy.REQUIRED, PciNumaPolicy.SOCKET) for p in pci)
    if nodes is None and pages is None and cpu.policy is CpuPolicy.SHARED and not strict_pci:
        return None
    count = nodes or 1
    if count > flavor.vcpus:
        raise InvalidError(
            f"{nodes_key}={count} asks for more guest NUMA nodes than the flavor's "
            f"{flavor.vcpus} vCPUs"
        )
    if cpus is None and mem is None:
        if flavor.vcpus % count or flavor.memory_mb % count:
            raise InvalidError(
                f"{nodes_key}={count} does not split the flavor's {flavor.vcpus} vCPUs "
                f"and {flavor.memory_mb} MB evenly; give {prefix}numa_cpus.N and "
                f"{prefix}numa_mem.N for every node"
            )
        per_cpu, per_mem = flavor.vcpus // count, flavor.memory_mb // count
        shape = [
            (frozenset(range(n * per_cpu, (n + 1) * per_cpu)), per_mem) for n in range(count)
        ]
    elif cpus is None or mem is None:
        given, missing = ("cpus", "mem") if cpus else ("mem", "cpus")
        raise InvalidError(f"{prefix}numa_{given}.N requires {prefix}numa_{missing}.N too")
    else:
        shape = _manual_cells(prefix, flavor, count, cpus, mem)
    cells = tuple(
        GuestCell(id=n, cpus=c, memory_mb=m, dedicated=c & cpu.dedicated)
        for n, (c, m) in enumerate(shape)
    )
    if pages is not None and pages.kind is PageKind.SIZE and pages.size_kb:
        for cell in cells:
            if cell.memory_mb * 1024 % pages.size_kb:
                raise InvalidError(
                    f"guest node {cell.id} has {cell.memory_mb} MB, not a whole number of "
                    f"{pages.size_kb} KiB pages (hw:mem_page_size)"
                )
    return GuestTopology(
        cells=cells,
        cpu_policy=cpu.policy,
        thread_policy=cpu.thread_policy,
        emulator_threads=cpu.emulator,
        pages=pages,
        pci=pci,
    )
