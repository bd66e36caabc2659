"""Image properties the scheduler reads, typed once: guest shape hints and host requirements.

An image carries two kinds of scheduling input. Guest-shape hints (``hw_cpu_policy``,
``hw_numa_nodes``, ``hw_mem_page_size``, ...) mirror flavor extra specs and are merged
with them under Nova's rule that an image may only ask for what the flavor leaves open
(``berth.scheduler.guest_spec`` applies it). Host requirements (``hw_architecture``,
``img_hv_type``, ``hw_vm_mode``, ``img_hv_requested_version``) are what Nova's
ImagePropertiesFilter checks against each host; they are canonicalized here the way Nova
canonicalizes them (``amd64`` is ``x86_64``, ``xapi`` is ``xen``) so a filter compares
like with like. ``trait:NAME=required`` properties become required traits.

The merge rules for settings that are not about CPUs live here too: the page size (an
image may choose one only where the flavor says ``any``, or a huge size where it says
``large``), locked memory, the PCI NUMA policy, and the guest CPU topology (an image may
not exceed the flavor's ``hw:cpu_max_*``).

Glance images carry many properties berth has no opinion on (``os_distro``, ...); those
pass untouched. Values of the properties read here are checked and a bad one is refused
naming the property.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from berth.model.errors import InvalidError
from berth.model.guest import CpuPolicy, PageKind, PageRequest, PciNumaPolicy, ThreadPolicy
from berth.model.names import is_valid_custom_name, standard_traits
from berth.model.schedule import Flavor, Image
from berth.scheduler.spec_keys import (
    MAX_NUMA_NODES,
    indexed_specs,
    parse_bool,
    parse_cpu_set,
    parse_enum,
    parse_int,
    parse_page_size,
)
from berth.scheduler.spec_match import VersionBound, parse_version_predicate

ARCHITECTURES = frozenset(
    {
        *("alpha", "armv6", "armv7l", "armv7b", "aarch64", "cris", "i686", "ia64", "lm32"),
        *("m68k", "microblaze", "microblazeel", "mips", "mipsel", "mips64", "mips64el"),
        *("openrisc", "parisc", "parisc64", "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb"),
        *("s390", "s390x", "sh4", "sh4eb", "sparc", "sparc64", "unicore32", "x86_64"),
        *("xtensa", "xtensaeb"),
    }
)
_ARCH_ALIASES = {"i386": "i686", "i486": "i686", "i586": "i686", "x86_32": "i686"}
_ARCH_ALIASES |= {"x86_32p": "i686", "amd64": "x86_64"}
HYPERVISOR_TYPES = frozenset(
    {
        *("baremetal", "bhyve", "docker", "fake", "hyperv", "ironic", "kqemu", "kvm", "lxc"),
        *("lxd", "openvz", "parallels", "virtuozzo", "phyp", "qemu", "test", "uml", "vbox"),
        *("vmware", "xen", "zvm", "powervm"),
    }
)
VM_MODES = frozenset({"hvm", "xen", "uml", "exe"})
_VM_MODE_ALIASES = {"pv": "xen", "hv": "hvm", "baremetal": "hvm"}
_HV_TYPE_ALIASES = {"xapi": "xen"}
CPU_TOPOLOGY = ("sockets", "cores", "threads")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ImageRequirements:
    """What a host must offer for the image (Nova's ImagePropertiesFilter); None = any."""

    architecture: str | None = None
    hypervisor_type: str | None = None
    vm_mode: str | None = None
    hypervisor_version: tuple[VersionBound, ...] = ()


@dataclass(frozen=True, slots=True)
class ImageProps:
    """The image properties the scheduler acts on, parsed and checked."""

    cpu_policy: CpuPolicy | None = None
    thread_policy: ThreadPolicy | None = None
    realtime_mask: str | None = None
    numa_nodes: int | None = None
    numa_cpus: dict[int, frozenset[int]] | None = None
    numa_mem: dict[int, int] | None = None
    page_size: PageRequest | None = None
    pci_numa_policy: PciNumaPolicy | None = None
    locked_memory: bool | None = None
    mem_encryption: bool | None = None
    firmware_type: str | None = None
    tpm_version: str | None = None
    tpm_model: str | None = None
    secure_boot: str | None = None
    cpu_topology: tuple[tuple[str, int], ...] = ()  # ("sockets"|"max_cores"|..., n)
    traits: frozenset[str] = frozenset()
    requirements: ImageRequirements = field(default_factory=ImageRequirements)


def _one_of(key: str, value: str, allowed: frozenset[str], aliases: Mapping[str, str]) -> str:
    text = value.strip().lower()
    text = aliases.get(text, text)
    if text not in allowed:
        raise InvalidError(f"image property {key}: unknown value {value!r}")
    return text


_HOST_KINDS: dict[str, tuple[frozenset[str], Mapping[str, str]]] = {
    "architecture": (ARCHITECTURES, _ARCH_ALIASES),
    "hypervisor_type": (HYPERVISOR_TYPES, _HV_TYPE_ALIASES),
    "vm_mode": (VM_MODES, _VM_MODE_ALIASES),
}


def canonical(kind: str, value: str) -> str | None:
    """``value`` as an ``architecture``, ``hypervisor_type`` or ``vm_mode`` in the
    canonical form image requirements use, or None when Nova knows no such value. Hosts'
    ``supported_instances`` are stored in this form so the filter compares like with like.
    """
    allowed, aliases = _HOST_KINDS[kind]
    text = value.strip().lower()
    text = aliases.get(text, text)
    return text if text in allowed else None


def _legacy(props: Mapping[str, str], key: str, old: str) -> tuple[str, str] | None:
    """The property under its current name, else under the name Nova used before."""
    if key in props and old in props and props[key] != props[old]:
        raise InvalidError(
            f"image properties {key}={props[key]!r} and {old}={props[old]!r} disagree"
        )
    if key in props:
        return key, props[key]
    if old in props:
        return old, props[old]
    return None


def _requirements(props: Mapping[str, str]) -> ImageRequirements:
    arch = _legacy(props, "hw_architecture", "architecture")
    hv_type = _legacy(props, "img_hv_type", "hypervisor_type")
    vm_mode = _legacy(props, "hw_vm_mode", "vm_mode")
    version = _legacy(props, "img_hv_requested_version", "hypervisor_version_requires")
    return ImageRequirements(
        architecture=_one_of(*arch, ARCHITECTURES, _ARCH_ALIASES) if arch else None,
        hypervisor_type=(
            _one_of(*hv_type, HYPERVISOR_TYPES, _HV_TYPE_ALIASES) if hv_type else None
        ),
        vm_mode=_one_of(*vm_mode, VM_MODES, _VM_MODE_ALIASES) if vm_mode else None,
        hypervisor_version=parse_version_predicate(*version) if version else (),
    )


def _traits(props: Mapping[str, str]) -> frozenset[str]:
    out = set()
    for key, value in props.items():
        if not key.startswith("trait:"):
            continue
        name = key[len("trait:") :]
        if name not in standard_traits() and not is_valid_custom_name(name):
            raise InvalidError(f"image property {key}: {name!r} is not a trait name")
        if value != "required":
            raise InvalidError(
                f"image property {key}: images can only require traits "
                f"(value 'required'), got {value!r}"
            )
        out.add(name)
    return frozenset(out)


def _numa_lists(
    props: Mapping[str, str],
) -> tuple[dict[int, frozenset[int]] | None, dict[int, int] | None]:
    cpus = {
        n: parse_cpu_set(f"hw_numa_cpus.{n}", v)
        for n, v in indexed_specs(props, "hw_numa_cpus.").items()
    }
    mem = {
        n: parse_int(f"hw_numa_mem.{n}", v, 1)
        for n, v in indexed_specs(props, "hw_numa_mem.").items()
    }
    return cpus or None, mem or None


def read_image(image: Image) -> ImageProps:
    """Parse the properties the scheduler acts on; a bad value names its property."""
    props = image.props

    def get(key: str, parse: Callable[[str, str], T]) -> T | None:
        return parse(key, props[key]) if key in props else None

    topology = []
    for part in CPU_TOPOLOGY:
        for name in (part, f"max_{part}"):
            value = get(f"hw_cpu_{name}", lambda k, v: parse_int(k, v, 1))
            if value is not None:
                topology.append((name, value))
    numa_cpus, numa_mem = _numa_lists(props)
    return ImageProps(
        cpu_policy=get("hw_cpu_policy", lambda k, v: parse_enum(k, v, CpuPolicy)),
        thread_policy=get("hw_cpu_thread_policy", lambda k, v: parse_enum(k, v, ThreadPolicy)),
        realtime_mask=get("hw_cpu_realtime_mask", _cpu_list_text),
        numa_nodes=get("hw_numa_nodes", lambda k, v: parse_int(k, v, 1, MAX_NUMA_NODES)),
        numa_cpus=numa_cpus,
        numa_mem=numa_mem,
        page_size=get("hw_mem_page_size", parse_page_size),
        pci_numa_policy=get(
            "hw_pci_numa_affinity_policy", lambda k, v: parse_enum(k, v, PciNumaPolicy)
        ),
        locked_memory=get("hw_locked_memory", parse_bool),
        mem_encryption=get("hw_mem_encryption", parse_bool),
        firmware_type=props.get("hw_firmware_type"),
        tpm_version=get("hw_tpm_version", _tpm_version),
        tpm_model=get("hw_tpm_model", _tpm_model),
        secure_boot=get("os_secure_boot", _secure_boot),
        cpu_topology=tuple(topology),
        traits=_traits(props),
        requirements=_requirements(props),
    )


def _fixed(key: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidError(
            f"image property {key} must be one of {', '.join(allowed)}, got {value!r}"
        )
    return value


def _cpu_list_text(key: str, value: str) -> str:
    """A CPU list kept as text (its meaning depends on the flavor's vCPUs), checked now."""
    parse_cpu_set(key, value)
    return value


def _tpm_version(key: str, value: str) -> str:
    return _fixed(key, value, ("1.2", "2.0"))


def _tpm_model(key: str, value: str) -> str:
    return _fixed(key, value, ("tpm-tis", "tpm-crb"))


def _secure_boot(key: str, value: str) -> str:
    return _fixed(key, value, ("required", "disabled", "optional"))


# -- flavor and image together: the image may only choose what the flavor leaves open --


def resolve_pages(specs: Mapping[str, str], image: ImageProps) -> PageRequest | None:
    """The page size: the flavor's, or the image's where the flavor allows a choice."""
    raw = specs.get("hw:mem_page_size")
    wanted = image.page_size
    if raw is None:
        if wanted is not None:
            raise InvalidError(
                "image property hw_mem_page_size needs a flavor that allows it "
                "(hw:mem_page_size=any or large)"
            )
        pages = None
    else:
        pages = parse_page_size("hw:mem_page_size", raw)
        allowed = {
            PageKind.ANY: tuple(PageKind),
            PageKind.LARGE: (PageKind.LARGE, PageKind.SIZE),
        }.get(pages.kind, ())
        if wanted is not None:
            if wanted.kind not in allowed:
                raise InvalidError(
                    "image property hw_mem_page_size conflicts with the flavor's "
                    f"hw:mem_page_size={raw}"
                )
            pages = wanted
    locked = _unique(specs, "hw:locked_memory", image.locked_memory)
    if locked and pages is None:
        raise InvalidError("hw:locked_memory requires hw:mem_page_size")
    return pages


def _unique(specs: Mapping[str, str], key: str, image_value: bool | None) -> bool:
    flavor_value = parse_bool(key, specs[key]) if key in specs else None
    if flavor_value is not None and image_value is not None and flavor_value != image_value:
        image_key = key.replace("hw:", "hw_")
        raise InvalidError(f"image property {image_key} conflicts with the flavor's {key}")
    return bool(flavor_value or image_value)


def resolve_pci_policy(specs: Mapping[str, str], image: ImageProps) -> PciNumaPolicy | None:
    key = "hw:pci_numa_affinity_policy"
    flavor = parse_enum(key, specs[key], PciNumaPolicy) if key in specs else None
    if flavor is not None and image.pci_numa_policy not in (None, flavor):
        raise InvalidError(
            f"image property hw_pci_numa_affinity_policy={image.pci_numa_policy} conflicts "
            f"with the flavor's {key}={flavor}"
        )
    return flavor or image.pci_numa_policy


def check_cpu_topology(flavor: Flavor, image: ImageProps) -> None:
    """``hw:cpu_sockets/cores/threads`` (and their ``max`` and image forms) must be able to
    describe the flavor's vCPUs; an image may not exceed the flavor's maximums."""
    specs, vcpus = flavor.specs, flavor.vcpus
    from_image = dict(image.cpu_topology)
    chosen: list[tuple[str, int]] = []
    for part in CPU_TOPOLOGY:
        flavor_max = _spec_int(specs, f"hw:cpu_max_{part}")
        image_max = from_image.get(f"max_{part}")
        if flavor_max and image_max and image_max > flavor_max:
            raise InvalidError(
                f"image property hw_cpu_max_{part}={image_max} exceeds the flavor's "
                f"hw:cpu_max_{part}={flavor_max}"
            )
        limit = min(v for v in (flavor_max, image_max, vcpus) if v)
        key, value = f"image property hw_cpu_{part}", from_image.get(part)
        if value is None:
            key, value = f"hw:cpu_{part}", _spec_int(specs, f"hw:cpu_{part}")
        if value is None:
            continue
        if value > limit or vcpus % value:
            raise InvalidError(
                f"{key}={value} must divide the flavor's {vcpus} vCPUs and stay within "
                f"{limit}"
            )
        chosen.append((key, value))
    product = 1
    for _, value in chosen:
        product *= value
    if (len(chosen) == len(CPU_TOPOLOGY) and product != vcpus) or vcpus % product:
        keys = " x ".join(f"{k}={v}" for k, v in chosen)
        raise InvalidError(f"{keys} does not describe the flavor's {vcpus} vCPUs")


def _spec_int(specs: Mapping[str, str], key: str) -> int | None:
    return parse_int(key, specs[key], 1) if key in specs else None
