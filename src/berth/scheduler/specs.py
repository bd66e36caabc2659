"""A scheduling request's flavor, image and ports, translated into what berth can search.

``translate`` turns a ``ScheduleRequest`` into a ``Translated``: the Placement query
(request groups, group policy), the host requirements the filters check (aggregate
metadata, compute capabilities, image properties), the guest's NUMA/CPU/page/PCI shape,
and the PCI devices it needs. It refuses anything unknown or contradictory with an
``InvalidError`` naming the extra spec or property at fault, so no request reaches the
search that could only ever fail, or succeed by ignoring what the operator wrote.

The Placement part follows Nova's own translation, so a flavor means on berth what it
means on Nova:

- The unsuffixed group asks for ``VCPU`` (shared), ``PCPU`` (dedicated: one per vCPU,
  plus one for isolated emulator threads) or both (mixed), ``MEMORY_MB``, and
  ``DISK_GB`` = root (unless booting from volume) + ephemeral + swap rounded up to GiB.
- ``resources<S>:RC=N`` sets an amount (``=0`` removes a class); a class named in any
  group is no longer added by default. ``trait<S>:NAME=required|forbidden`` filters.
- ``hw:cpu_thread_policy=require|isolate`` requires|forbids ``HW_CPU_HYPERTHREADING``;
  the ``socket`` PCI NUMA policy requires ``COMPUTE_SOCKET_PCI_NUMA_AFFINITY``; a vTPM,
  UEFI secure boot, memory encryption and persistent memory add their traits/classes.
- Each SR-IOV port gets its own group: ``SRIOV_NET_VF=1`` on a provider with the
  physnet's trait (``CUSTOM_PHYSNET_<NAME>``, as Neutron names it). Each device of a PCI
  alias gets its own group of one ``CUSTOM_PCI_<VENDOR>_<PRODUCT>`` (Nova's PCI in
  Placement; ``SRIOV_NET_VF`` for a ``type-VF`` alias), so devices may come from
  different providers. Class and trait names are the ones hosts register with
  (``berth.model.topology_placement``). With two or more suffixed groups and no
  ``group_policy`` spec, the policy is ``none``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from berth.model.candidates import CandidateRequest, RequestGroup
from berth.model.errors import InvalidError
from berth.model.filters import TraitFilter
from berth.model.guest import CpuPolicy, GuestTopology, PciNumaPolicy, PciRequest
from berth.model.names import is_valid_custom_name, standard_resource_classes, standard_traits
from berth.model.schedule import Flavor, ScheduleRequest, VnicType
from berth.model.topology import PciDeviceType
from berth.model.topology_placement import SRIOV_NET_VF, physnet_trait
from berth.scheduler.aliases import PciAlias, parse_alias_request
from berth.scheduler.guest_spec import HT_TRAIT, CpuPlan, build_guest, resolve_cpu
from berth.scheduler.image_props import (
    ImageProps,
    ImageRequirements,
    check_cpu_topology,
    read_image,
    resolve_pages,
    resolve_pci_policy,
)
from berth.scheduler.spec_keys import GROUP_KEY, check_flavor_specs, parse_bool, parse_int
from berth.scheduler.spec_match import SpecMatch, parse_match

SOCKET_TRAIT = "COMPUTE_SOCKET_PCI_NUMA_AFFINITY"
SECURE_BOOT_TRAIT = "COMPUTE_SECURITY_UEFI_SECURE_BOOT"
_TPM_TRAITS = {
    "1.2": "COMPUTE_SECURITY_TPM_1_2",
    "2.0": "COMPUTE_SECURITY_TPM_2_0",
    "tpm-tis": "COMPUTE_SECURITY_TPM_TIS",
    "tpm-crb": "COMPUTE_SECURITY_TPM_CRB",
}


@dataclass(frozen=True, slots=True)
class Requirement:
    """An ``aggregate_instance_extra_specs:`` or ``capabilities:`` spec, parsed.

    ``path`` is the attribute after the namespace, split on ``:``
    (``capabilities:cpu_info:vendor`` -> ``("cpu_info", "vendor")``); ``source`` is the
    extra spec key as written, for explanations.
    """

    source: str
    path: tuple[str, ...]
    match: SpecMatch


@dataclass(frozen=True, slots=True)
class Translated:
    """Everything the scheduler searches with, derived from one ``ScheduleRequest``.

    ``groups`` holds the unsuffixed group first, then granular groups in suffix order;
    ``group_sources`` says for each suffix what asked for it ("port 0 (physnet1)").
    ``pci`` lists every device request; ``guest.pci`` repeats it when the guest has a
    NUMA topology. ``device_profile`` is a Cyborg ``accel:device_profile``, which berth
    passes on but does not resolve.
    """

    groups: tuple[RequestGroup, ...]
    group_policy: str | None = None
    group_sources: tuple[tuple[str, str], ...] = ()
    aggregate_specs: tuple[Requirement, ...] = ()
    capabilities: tuple[Requirement, ...] = ()
    image: ImageRequirements = field(default_factory=ImageRequirements)
    guest: GuestTopology | None = None
    pci: tuple[PciRequest, ...] = ()
    device_profile: str | None = None

    @property
    def unsuffixed(self) -> RequestGroup:
        return self.groups[0]

    def group(self, suffix: str) -> RequestGroup:
        return next(g for g in self.groups if g.suffix == suffix)

    def candidate_request(self, *, limit: int | None = None) -> CandidateRequest:
        """The Placement query (GET /allocation_candidates) for one instance."""
        return CandidateRequest(groups=self.groups, group_policy=self.group_policy, limit=limit)


@dataclass
class _Group:
    """A request group while it is assembled from specs (mutable, private)."""

    resources: dict[str, int] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    forbidden: set[str] = field(default_factory=set)
    keys: list[str] = field(default_factory=list)

    def frozen(self, suffix: str) -> RequestGroup:
        conflict = sorted(self.required & self.forbidden)
        if conflict:
            where = f"request group {suffix!r}" if suffix else "the unsuffixed request group"
            raise InvalidError(f"trait {conflict[0]} is both required and forbidden in {where}")
        return RequestGroup(
            suffix=suffix,
            resources={rc: n for rc, n in sorted(self.resources.items()) if n},
            traits=TraitFilter(
                required=frozenset(self.required), forbidden=frozenset(self.forbidden)
            ),
        )


def _spec_groups(specs: Mapping[str, str]) -> dict[str, _Group]:
    """``resources<S>:`` and ``trait<S>:`` specs, by suffix ("" is unsuffixed)."""
    groups: dict[str, _Group] = {}
    for key, value in sorted(specs.items()):
        found = GROUP_KEY.match(key)
        if found is None:
            continue
        kind, suffix, name = found.group(1), found.group(2) or "", found.group(3)
        group = groups.setdefault(suffix, _Group())
        group.keys.append(key)
        if kind == "resources":
            if name not in standard_resource_classes() and not is_valid_custom_name(name):
                raise InvalidError(f"{key}: {name!r} is not a resource class")
            group.resources[name] = parse_int(key, value, 0)
            continue
        if name not in standard_traits() and not is_valid_custom_name(name):
            raise InvalidError(f"{key}: {name!r} is not a trait")
        if value == "required":
            group.required.add(name)
        elif value == "forbidden":
            group.forbidden.add(name)
        else:
            raise InvalidError(f"{key} must be required or forbidden, got {value!r}")
    return groups


def _hyperthreading(groups: Mapping[str, _Group], image: ImageProps) -> str | None:
    for group in groups.values():
        if HT_TRAIT in group.required:
            return "required"
        if HT_TRAIT in group.forbidden:
            return "forbidden"
    return "required" if HT_TRAIT in image.traits else None


def _cpu_amount(groups: Mapping[str, _Group], rc: str) -> int:
    return sum(g.resources.get(rc, 0) for g in groups.values())


def _disk_gb(request: ScheduleRequest) -> int:
    flavor = request.flavor
    root = 0 if request.boot_from_volume else flavor.root_gb
    return root + flavor.ephemeral_gb + math.ceil(flavor.swap_mb / 1024)


def _unsuffixed(
    request: ScheduleRequest, groups: Mapping[str, _Group], cpu: CpuPlan
) -> _Group:
    """The flavor's own resources under Nova's defaults, then the explicit overrides."""
    flavor = request.flavor
    named = {rc for g in groups.values() for rc in g.resources}
    out = _Group()
    if cpu.policy is CpuPolicy.DEDICATED and not cpu.explicit_pcpus:
        out.resources["PCPU"] = cpu.pcpus
    elif cpu.policy is CpuPolicy.MIXED:
        out.resources["VCPU"] = cpu.shared
        out.resources["PCPU"] = cpu.pcpus
    elif not named & {"VCPU", "PCPU"}:
        out.resources["VCPU"] = flavor.vcpus
    if "MEMORY_MB" not in named:
        out.resources["MEMORY_MB"] = flavor.memory_mb
    if "DISK_GB" not in named:
        out.resources["DISK_GB"] = _disk_gb(request)
    given = groups.get("")
    if given is not None:
        out.resources.update(given.resources)
        out.required |= given.required
        out.forbidden |= given.forbidden
    return out


def _unique(flavor: Flavor, key: str, image_key: str, image_value: str | None) -> str | None:
    value = flavor.specs.get(key)
    if value is not None and image_value is not None and value != image_value:
        raise InvalidError(
            f"image property {image_key}={image_value} conflicts with the flavor's {key}={value}"
        )
    return value or image_value


def _features(flavor: Flavor, image: ImageProps, out: _Group) -> None:
    """vTPM, secure boot, memory encryption and vPMEM: the traits/classes Nova adds."""
    version = _unique(flavor, "hw:tpm_version", "hw_tpm_version", image.tpm_version)
    model = _unique(flavor, "hw:tpm_model", "hw_tpm_model", image.tpm_model)
    if model is not None and version is None:
        raise InvalidError("hw:tpm_model requires hw:tpm_version")
    if version is not None:
        model = model or "tpm-tis"
        if model == "tpm-crb" and version != "2.0":
            raise InvalidError("hw:tpm_model=tpm-crb requires hw:tpm_version=2.0")
        out.required |= {_TPM_TRAITS[version], _TPM_TRAITS[model]}
    boot = _unique(flavor, "os:secure_boot", "os_secure_boot", image.secure_boot)
    if boot == "required":
        out.required.add(SECURE_BOOT_TRAIT)
    specs = flavor.specs
    key = "hw:mem_encryption"
    encrypt = parse_bool(key, specs[key]) if key in specs else None
    if encrypt is not None and image.mem_encryption not in (None, encrypt):
        raise InvalidError(f"image property hw_mem_encryption conflicts with the flavor's {key}")
    if encrypt or image.mem_encryption:
        if image.firmware_type != "uefi":
            raise InvalidError("hw:mem_encryption requires an image with hw_firmware_type=uefi")
        out.resources["MEM_ENCRYPTION_CONTEXT"] = 1
    labels = specs["hw:pmem"].split(",") if "hw:pmem" in specs else []
    for label in labels:
        rc = f"CUSTOM_PMEM_NAMESPACE_{label.upper()}"
        out.resources[rc] = out.resources.get(rc, 0) + 1


def _requirements(specs: Mapping[str, str], namespace: str) -> tuple[Requirement, ...]:
    out = []
    for key, value in sorted(specs.items()):
        if not key.startswith(f"{namespace}:"):
            continue
        path = tuple(key[len(namespace) + 1 :].split(":"))
        if not all(path):
            raise InvalidError(f"{key}: empty attribute name after {namespace}:")
        out.append(Requirement(source=key, path=path, match=parse_match(key, value)))
    return tuple(out)


def _pci_requests(
    request: ScheduleRequest,
    aliases: Mapping[str, PciAlias],
    policy: PciNumaPolicy | None,
) -> tuple[list[tuple[PciRequest, PciAlias]], list[PciRequest]]:
    """(alias requests with their alias, port requests); unknown aliases are refused.

    The NUMA policy of a device is the port's own, else the flavor's (or image's), else
    the alias's, else ``legacy``: Nova's order of precedence.
    """
    key = "pci_passthrough:alias"
    by_alias: list[tuple[PciRequest, PciAlias]] = []
    text = request.flavor.specs.get(key)
    for name, count in parse_alias_request(key, text) if text is not None else ():
        alias = aliases.get(name)
        if alias is None:
            raise InvalidError(f"{key} names unknown PCI alias {name!r}")
        by_alias.append(
            (
                PciRequest(
                    count=count,
                    source=f"{key} {name}",
                    vendor_id=alias.vendor_id,
                    product_id=alias.product_id,
                    device_type=alias.device_type.value if alias.device_type else None,
                    numa_policy=policy or alias.numa_policy or PciNumaPolicy.LEGACY,
                ),
                alias,
            )
        )
    ports = []
    for index, port in enumerate(request.ports):
        vf = port.vnic_type is not VnicType.DIRECT_PHYSICAL
        ports.append(
            PciRequest(
                count=1,
                source=f"port {port.id or index}",
                device_type=(PciDeviceType.VF if vf else PciDeviceType.PF).value,
                physnet=port.physnet,
                numa_policy=port.numa_policy or policy or PciNumaPolicy.LEGACY,
            )
        )
    return by_alias, ports


def _device_groups(
    request: ScheduleRequest,
    by_alias: list[tuple[PciRequest, PciAlias]],
    taken: Mapping[str, _Group],
) -> list[tuple[str, _Group, str]]:
    """One group per port VF and per aliased device: (suffix, group, what asked).

    A whole PF for a ``direct-physical`` port has no Placement class (Neutron and Nova
    count only VFs there), so it is left to the PCI fitting.
    """
    out: list[tuple[str, _Group, str]] = []
    for index, port in enumerate(request.ports):
        if port.vnic_type is VnicType.DIRECT_PHYSICAL:
            continue
        group = _Group(resources={SRIOV_NET_VF: 1}, required={physnet_trait(port.physnet)})
        what = f"port {port.id or index} ({port.physnet}, {port.vnic_type.value})"
        out.append((f"port{index}", group, what))
    for number, (pci, alias) in enumerate(by_alias):
        for device in range(pci.count):
            group = _Group(resources={alias.placement_class: 1}, required=set(alias.traits))
            what = f"{pci.source} (device {device + 1} of {pci.count})"
            out.append((f"pci{number}_{device}", group, what))
    for suffix, _, _ in out:
        if suffix in taken:
            raise InvalidError(
                f"{taken[suffix].keys[0]}: request group suffix {suffix!r} is reserved for "
                "berth's port and PCI device groups"
            )
    return out


def _check_image_minimums(request: ScheduleRequest) -> None:
    flavor, image = request.flavor, request.image
    if image.min_ram_mb > flavor.memory_mb:
        raise InvalidError(
            f"flavor memory_mb={flavor.memory_mb} is less than the image's "
            f"min_ram_mb={image.min_ram_mb}"
        )
    if not request.boot_from_volume and 0 < flavor.root_gb < image.min_disk_gb:
        raise InvalidError(
            f"flavor root_gb={flavor.root_gb} is less than the image's "
            f"min_disk_gb={image.min_disk_gb}"
        )


def translate(request: ScheduleRequest, aliases: Mapping[str, PciAlias]) -> Translated:
    """Validate ``request`` and translate it; ``aliases`` is the operator's PCI aliases."""
    flavor = request.flavor
    specs = flavor.specs
    check_flavor_specs(specs)
    image = read_image(request.image)
    _check_image_minimums(request)
    groups = _spec_groups(specs)
    cpu = resolve_cpu(
        flavor,
        image,
        requested_vcpus=_cpu_amount(groups, "VCPU"),
        requested_pcpus=_cpu_amount(groups, "PCPU"),
        hyperthreading=_hyperthreading(groups, image),
    )
    check_cpu_topology(flavor, image)
    pages = resolve_pages(specs, image)
    policy = resolve_pci_policy(specs, image)
    by_alias, ports = _pci_requests(request, aliases, policy)
    pci = tuple(p for p, _ in by_alias) + tuple(ports)
    guest = build_guest(flavor, image, cpu, pages, pci)

    root = _unsuffixed(request, groups, cpu)
    root.required |= image.traits
    if cpu.hyperthreading == "required":
        root.required.add(HT_TRAIT)
    elif cpu.hyperthreading == "forbidden":
        root.forbidden.add(HT_TRAIT)
    if policy is PciNumaPolicy.SOCKET or any(p.numa_policy is PciNumaPolicy.SOCKET for p in pci):
        root.required.add(SOCKET_TRAIT)
    _features(flavor, image, root)

    suffixed = [
        (suffix, group, ", ".join(group.keys))
        for suffix, group in sorted(groups.items())
        if suffix
    ]
    suffixed += _device_groups(request, by_alias, groups)
    built = [root.frozen("")]
    for suffix, group, source in suffixed:
        frozen = group.frozen(suffix)
        if not frozen.resources:
            raise InvalidError(f"{source}: request group {suffix!r} asks for no resources")
        built.append(frozen)
    group_policy = specs.get("group_policy")
    if group_policy is None and len(suffixed) > 1:
        group_policy = "none"
    return Translated(
        groups=tuple(built),
        group_policy=group_policy,
        group_sources=tuple((suffix, source) for suffix, _, source in suffixed),
        aggregate_specs=_requirements(specs, "aggregate_instance_extra_specs"),
        capabilities=_requirements(specs, "capabilities"),
        image=image.requirements,
        guest=guest,
        pci=pci,
        device_profile=specs.get("accel:device_profile"),
    )
