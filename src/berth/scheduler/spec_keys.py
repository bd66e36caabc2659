"""The flavor extra spec vocabulary: which keys exist, and parsers for their values.

A misspelt extra spec is the quietest way to get a wrong placement: Nova before its
extra spec validation ignored ``hw:cpu_polciy=dedicated`` and booted a floating guest.
berth refuses every ``hw:`` key Nova does not know and every namespace that is not one of
Nova's, and checks each known value's form here, once, naming the key (and suggesting
the key that was probably meant). Keys whose meaning is the scheduler's (``resources*``,
``trait*``, ``aggregate_instance_extra_specs``, ``capabilities``) are parsed where they
are translated (``berth.scheduler.specs``).

The parsers are shared with the image property reader, so ``hw:numa_nodes`` and
``hw_numa_nodes`` accept exactly the same text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TypeVar

from berth.model.errors import InvalidError
from berth.model.guest import (
    CpuPolicy,
    EmulatorThreads,
    PageKind,
    PageRequest,
    PciNumaPolicy,
    ThreadPolicy,
)
from berth.model.inventory import MAX_INT
from berth.model.schedule import MAX_VCPUS
from berth.model.topology import SMALL_PAGE_KB
from berth.scheduler.aliases import parse_alias_request

# Nova's limit on guest NUMA nodes (ImageMetaProps.NUMA_NODES_MAX).
MAX_NUMA_NODES = 128

E = TypeVar("E", bound=StrEnum)
Check = Callable[[str, str], object]

_TRUE = frozenset({"1", "t", "true", "on", "y", "yes"})
_FALSE = frozenset({"0", "f", "false", "off", "n", "no"})
_INT = re.compile(r"^[+-]?\d+$")


def parse_bool(key: str, value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidError(f"{key} must be a boolean (true/false, yes/no, 1/0), got {value!r}")


def parse_int(key: str, value: str, minimum: int = 0, maximum: int = MAX_INT) -> int:
    text = value.strip()
    if not _INT.match(text):
        raise InvalidError(f"{key} must be an integer, got {value!r}")
    number = int(text)
    if not minimum <= number <= maximum:
        raise InvalidError(f"{key} must be between {minimum} and {maximum}, got {number}")
    return number


def parse_enum(key: str, value: str, kind: type[E]) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidError(f"{key} must be one of {allowed}, got {value!r}") from None


def parse_cpu_set(key: str, value: str) -> frozenset[int]:
    """A CPU list as Nova writes it: ``0-3,^2,5`` (ranges, single ids, ``^`` exclusions)."""
    include: set[int] = set()
    exclude: set[int] = set()
    for item in value.split(","):
        text = item.strip()
        target = include
        if text.startswith("^"):
            target, text = exclude, text[1:].strip()
        found = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", text)
        if found is None:
            raise InvalidError(f"{key}: {value!r} is not a CPU list like '0-3,^2,5'")
        low = int(found.group(1))
        high = int(found.group(2)) if found.group(2) is not None else low
        if low > high:
            raise InvalidError(f"{key}: range {text} runs backwards")
        if high >= MAX_VCPUS:
            raise InvalidError(f"{key}: CPU {high} is beyond the largest guest ({MAX_VCPUS})")
        target.update(range(low, high + 1))
    return frozenset(include - exclude)


def parse_cpu_mask(key: str, value: str, vcpus: int) -> frozenset[int]:
    """A mask of guest CPUs; a leading ``^`` means "all CPUs except", as in Nova."""
    text = value.strip()
    if text.startswith("^"):
        text = f"0-{vcpus - 1},{text}"
    cpus = parse_cpu_set(key, text)
    beyond = sorted(c for c in cpus if c >= vcpus)
    if beyond:
        raise InvalidError(
            f"{key} names guest CPU {beyond[0]}, but the flavor has {vcpus} vCPUs "
            f"(0-{vcpus - 1})"
        )
    return cpus


_UNITS = {"": 1, "K": 1, "M": 1024, "G": 1024**2, "T": 1024**3}
_SIZE = re.compile(r"^(\d+)\s*(?:([kKMGT])(i)?)?(B)?$")


def parse_page_size(key: str, value: str) -> PageRequest:
    """``small``/``large``/``any``, KiB as digits, or a size like ``2MB``/``1GiB``/``1G``.

    An explicit size must be a power of two of at least 4 KiB (every page size a CPU
    offers is); 4 KiB itself is small pages.
    """
    text = value.strip()
    if text in ("small", "large", "any"):
        return PageRequest(PageKind(text))
    found = _SIZE.match(text)
    if found is None:
        raise InvalidError(
            f"{key} must be small, large, any or a size like 2048, 2MB or 1GB; got {value!r}"
        )
    number, unit, _, byte_suffix = found.groups()
    if unit is None and byte_suffix:  # "2097152B": bytes
        if int(number) % 1024:
            raise InvalidError(f"{key}: {value!r} is not a whole number of KiB")
        size_kb = int(number) // 1024
    else:
        size_kb = int(number) * _UNITS[(unit or "").upper()]
    if size_kb < SMALL_PAGE_KB or size_kb & (size_kb - 1):
        raise InvalidError(
            f"{key}: {value!r} is not a page size (a power of two of at least 4 KiB)"
        )
    if size_kb == SMALL_PAGE_KB:
        return PageRequest(PageKind.SMALL)
    return PageRequest(PageKind.SIZE, size_kb)


# -- the vocabulary ---------------------------------------------------------------------


def _enum(kind: type[StrEnum]) -> Check:
    return lambda key, value: parse_enum(key, value, kind)


def _choice(*allowed: str) -> Check:
    def check(key: str, value: str) -> str:
        if value not in allowed:
            raise InvalidError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    return check


def _int(minimum: int, maximum: int = MAX_INT) -> Check:
    return lambda key, value: parse_int(key, value, minimum, maximum)


def _pattern(regex: str, example: str) -> Check:
    compiled = re.compile(regex)

    def check(key: str, value: str) -> str:
        if not compiled.fullmatch(value):
            raise InvalidError(f"{key} must look like {example}, got {value!r}")
        return value

    return check


def _text(key: str, value: str) -> str:
    if not value.strip():
        raise InvalidError(f"{key} must not be empty")
    return value


_POSITIVE = _int(1)
HW_KEYS: dict[str, Check] = {
    "cpu_policy": _enum(CpuPolicy),
    "cpu_thread_policy": _enum(ThreadPolicy),
    "emulator_threads_policy": _enum(EmulatorThreads),
    "cpu_dedicated_mask": parse_cpu_set,
    "cpu_realtime": parse_bool,
    "cpu_realtime_mask": parse_cpu_set,
    "mem_page_size": parse_page_size,
    "numa_nodes": _int(1, MAX_NUMA_NODES),
    "pci_numa_affinity_policy": _enum(PciNumaPolicy),
    "cpu_sockets": _POSITIVE,
    "cpu_cores": _POSITIVE,
    "cpu_threads": _POSITIVE,
    "cpu_max_sockets": _POSITIVE,
    "cpu_max_cores": _POSITIVE,
    "cpu_max_threads": _POSITIVE,
    "hide_hypervisor_id": parse_bool,
    "boot_menu": parse_bool,
    "mem_encryption": parse_bool,
    "mem_encryption_model": _choice("amd-sev", "amd-sev-es"),
    "locked_memory": parse_bool,
    "pmem": _pattern(r"[a-zA-Z0-9_]+(,[a-zA-Z0-9_]+)*", "LABEL1,LABEL2"),
    "pmu": parse_bool,
    "serial_port_count": _int(0),
    "tpm_model": _choice("tpm-tis", "tpm-crb"),
    "tpm_version": _choice("1.2", "2.0"),
    "tpm_secret_security": _choice("user", "host", "deployment"),
    "watchdog_action": _choice("none", "pause", "poweroff", "reset", "disabled"),
    "virtio_packed_ring": parse_bool,
    "vif_multiqueue_enabled": parse_bool,
    "viommu_model": _choice("intel", "smmuv3", "virtio", "auto"),
    "ephemeral_encryption": parse_bool,
    "ephemeral_encryption_format": _choice("luks", "plain"),
    "maxphysaddr_mode": _choice("passthrough", "emulate"),
    "maxphysaddr_bits": _POSITIVE,
    "sound_model": _text,
    "usb_model": _text,
    "redirected_usb_ports": _int(0, 15),
}
# hw:numa_cpus.N / hw:numa_mem.N, one per guest NUMA node
HW_INDEXED: dict[str, Check] = {"numa_cpus": parse_cpu_set, "numa_mem": _POSITIVE}
# Names that look right but are not Nova's, with the one that is.
_MISNAMED = {f"hw:max_cpu_{p}": f"hw:cpu_max_{p}" for p in ("sockets", "cores", "threads")}

_NAMESPACES: dict[str, dict[str, Check]] = {
    "hw": HW_KEYS,
    "hw_rng": {"allowed": parse_bool, "rate_bytes": _int(0), "rate_period": _int(0)},
    "hw_video": {"ram_max_mb": _int(0)},
    "os": {"secure_boot": _choice("required", "disabled", "optional")},
    "pci_passthrough": {"alias": parse_alias_request},
    "accel": {"device_profile": _text},
}
# Driver tuning berth does not interpret: any key, any value.
_FREE_NAMESPACES = frozenset({"quota", "vmware", "powervm"})
# Namespaces the translation parses itself.
SCHEDULER_NAMESPACES = frozenset({"aggregate_instance_extra_specs", "capabilities"})
# Keys without a namespace that Nova knows.
BARE_KEYS: dict[str, Check] = {
    "group_policy": _choice("none", "isolate"),
    "hide_hypervisor_id": parse_bool,
}
GROUP_KEY = re.compile(r"^(resources|trait)([a-zA-Z0-9_-]{1,64})?:(.+)$")
_INDEXED = re.compile(r"^(numa_cpus|numa_mem)\.(\d+)$")


def _unknown(key: str, known: list[str]) -> InvalidError:
    guess = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {guess[0]}?" if guess else ""
    return InvalidError(f"unknown extra spec {key}{hint}")


def _all_known() -> list[str]:
    out = [f"{ns}:{name}" for ns, keys in _NAMESPACES.items() for name in keys]
    out += [f"hw:{name}.0" for name in HW_INDEXED]
    return out + list(BARE_KEYS)


def check_flavor_specs(specs: Mapping[str, str]) -> None:
    """Refuse unknown keys and malformed values of the keys whose form is fixed."""
    for key, value in specs.items():
        if key in _MISNAMED:
            raise InvalidError(f"unknown extra spec {key}; did you mean {_MISNAMED[key]}?")
        if ":" not in key:
            if key not in BARE_KEYS:
                raise _unknown(key, _all_known())
            BARE_KEYS[key](key, value)
            continue
        namespace, name = key.split(":", 1)
        if GROUP_KEY.match(key) or namespace in SCHEDULER_NAMESPACES:
            continue
        if namespace in _FREE_NAMESPACES:
            continue
        keys = _NAMESPACES.get(namespace)
        if keys is None:
            raise InvalidError(
                f"unknown extra spec {key}: namespace {namespace!r} is not one berth knows"
            )
        indexed = _INDEXED.match(name) if namespace == "hw" else None
        if indexed is not None:
            HW_INDEXED[indexed.group(1)](key, value)
        elif name in keys:
            keys[name](key, value)
        else:
            raise _unknown(key, _all_known())


def indexed_specs(specs: Mapping[str, str], prefix: str) -> dict[int, str]:
    """``hw:numa_cpus.N`` (``prefix`` ``hw:numa_cpus.``) -> {N: value}."""
    out: dict[int, str] = {}
    for key, value in specs.items():
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            out[int(key[len(prefix) :])] = value
    return out
