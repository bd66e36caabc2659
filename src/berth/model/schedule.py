"""A scheduling request as values: what Nova's scheduler is handed, in berth's own shape.

``POST /berth/v1/schedule`` carries what Nova's conductor gives its scheduler for a boot:
the flavor (with its extra specs), the image's properties, the availability zone, owner,
server group, how many instances, host hints (force/ignore) and the ports that need
SR-IOV devices. These values hold exactly that, already checked for the invariants that
do not need the flavor's meaning (a count in range, uuids that fit the count, hosts not
both forced and ignored); ``berth.scheduler.specs`` gives the extra specs their meaning.

Extra specs and image properties are kept as sorted ``(key, value)`` pairs so the values
stay immutable and hashable; ``specs`` / ``props`` give a mapping view.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from berth.model import server_group
from berth.model.errors import InvalidError
from berth.model.guest import PciNumaPolicy
from berth.model.inventory import MAX_INT
from berth.model.uuids import is_uuid_like, normalize

# One request places at most this many instances: Nova's max_count is quota-bound, and a
# thousand claims already make one transaction long enough.
MAX_INSTANCES = 1000
# A guest larger than this is not a guest any hypervisor berth schedules for; the bound
# also keeps CPU-set arithmetic on untrusted input small.
MAX_VCPUS = 4096
# Longest host list (force/ignore/explain) one request may carry.
MAX_HOSTS = 1000
MAX_NAME_LENGTH = 255

Pairs = tuple[tuple[str, str], ...]


def as_pairs(mapping: Mapping[str, str]) -> Pairs:
    """Sorted ``(key, value)`` pairs of ``mapping``: the stored form of specs/properties."""
    return tuple(sorted(mapping.items()))


def _check_pairs(what: str, pairs: Pairs) -> Pairs:
    ordered = tuple(sorted(pairs))
    for (key, _), (next_key, _) in itertools.pairwise(ordered):
        if key == next_key:
            raise InvalidError(f"{what} {key} is given twice")
    return ordered


class ServerGroupPolicy(StrEnum):
    """Nova's server group policies (the values ``berth.model.server_group`` stores)."""

    AFFINITY = server_group.AFFINITY
    ANTI_AFFINITY = server_group.ANTI_AFFINITY
    SOFT_AFFINITY = server_group.SOFT_AFFINITY
    SOFT_ANTI_AFFINITY = server_group.SOFT_ANTI_AFFINITY


class VnicType(StrEnum):
    """Neutron vnic types that need a device from the host.

    ``direct`` and ``macvtap`` take an SR-IOV virtual function; ``direct-physical`` takes a
    whole physical function.
    """

    DIRECT = "direct"
    MACVTAP = "macvtap"
    DIRECT_PHYSICAL = "direct-physical"


@dataclass(frozen=True, slots=True)
class Flavor:
    """Nova's flavor: sizes and extra specs (the specs' meaning is checked on translation)."""

    name: str
    vcpus: int
    memory_mb: int
    root_gb: int = 0
    ephemeral_gb: int = 0
    swap_mb: int = 0
    extra_specs: Pairs = ()

    def __post_init__(self) -> None:
        if not 1 <= self.vcpus <= MAX_VCPUS:
            raise InvalidError(f"flavor vcpus must be between 1 and {MAX_VCPUS}")
        if not 1 <= self.memory_mb <= MAX_INT:
            raise InvalidError(f"flavor memory_mb must be between 1 and {MAX_INT}")
        for name in ("root_gb", "ephemeral_gb", "swap_mb"):
            if not 0 <= getattr(self, name) <= MAX_INT:
                raise InvalidError(f"flavor {name} must be between 0 and {MAX_INT}")
        object.__setattr__(self, "extra_specs", _check_pairs("extra spec", self.extra_specs))

    @property
    def specs(self) -> Mapping[str, str]:
        return dict(self.extra_specs)


@dataclass(frozen=True, slots=True)
class Image:
    """The image's properties plus the minimums Glance keeps outside them."""

    properties: Pairs = ()
    min_ram_mb: int = 0
    min_disk_gb: int = 0

    def __post_init__(self) -> None:
        for name in ("min_ram_mb", "min_disk_gb"):
            if not 0 <= getattr(self, name) <= MAX_INT:
                raise InvalidError(f"image {name} must be between 0 and {MAX_INT}")
        object.__setattr__(
            self, "properties", _check_pairs("image property", self.properties)
        )

    @property
    def props(self) -> Mapping[str, str]:
        return dict(self.properties)


@dataclass(frozen=True, slots=True)
class ServerGroupRef:
    """The server group the instances join, by uuid or name, with its policy and rules.

    ``max_server_per_host`` is Nova's only rule and exists only for ``anti-affinity``.
    """

    policy: ServerGroupPolicy
    uuid: str | None = None
    name: str | None = None
    max_server_per_host: int | None = None

    def __post_init__(self) -> None:
        if self.uuid is None and not self.name:
            raise InvalidError("server_group needs a uuid or a name")
        if self.uuid is not None:
            if not is_uuid_like(self.uuid):
                raise InvalidError(f"server_group uuid {self.uuid!r} is not a uuid")
            object.__setattr__(self, "uuid", normalize(self.uuid))
        if self.max_server_per_host is not None:
            if self.policy is not ServerGroupPolicy.ANTI_AFFINITY:
                raise InvalidError(
                    "server_group rules max_server_per_host is only valid with the "
                    f"anti-affinity policy, not {self.policy.value}"
                )
            if not 1 <= self.max_server_per_host <= MAX_INT:
                raise InvalidError("server_group rules max_server_per_host must be at least 1")


@dataclass(frozen=True, slots=True)
class PortRequest:
    """A Neutron port that needs a device: its physical network, vnic type and, when set
    on the port, its NUMA affinity policy (which then wins over the flavor's)."""

    physnet: str
    vnic_type: VnicType = VnicType.DIRECT
    numa_policy: PciNumaPolicy | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        if not self.physnet:
            raise InvalidError("port physnet must not be empty")


def _hosts(what: str, names: tuple[str, ...]) -> None:
    if len(names) > MAX_HOSTS:
        raise InvalidError(f"{what} lists more than {MAX_HOSTS} hosts")
    for name in names:
        if not name or len(name) > MAX_NAME_LENGTH:
            raise InvalidError(f"{what} has an empty or over-long host name")
    if len(set(names)) != len(names):
        raise InvalidError(f"{what} names a host twice")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleRequest:
    """One scheduling call: place ``num_instances`` guests of one flavor and image.

    ``instance_uuids`` become the consumers of the claims; when none are given, fresh
    ones are made. ``force_hosts``/``force_nodes`` restrict the choice to those hosts (as
    Nova's ``availability_zone=az:host:node`` does for admins); ``ignore_hosts`` removes
    hosts. ``dry_run`` answers where the guests would go without claiming anything.
    ``explain_hosts`` names hosts whose every rejection reason the answer should show.
    ``boot_from_volume`` leaves the root disk out of the DISK_GB request, as Nova does.
    """

    flavor: Flavor
    image: Image = field(default_factory=Image)
    availability_zone: str | None = None
    project_id: str
    user_id: str
    server_group: ServerGroupRef | None = None
    num_instances: int = 1
    instance_uuids: tuple[str, ...] = ()
    ignore_hosts: tuple[str, ...] = ()
    force_hosts: tuple[str, ...] = ()
    force_nodes: tuple[str, ...] = ()
    ports: tuple[PortRequest, ...] = ()
    boot_from_volume: bool = False
    dry_run: bool = False
    explain_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.num_instances <= MAX_INSTANCES:
            raise InvalidError(f"num_instances must be between 1 and {MAX_INSTANCES}")
        for name in ("project_id", "user_id"):
            value = getattr(self, name)
            if not value or len(value) > MAX_NAME_LENGTH:
                raise InvalidError(f"{name} must be 1 to {MAX_NAME_LENGTH} characters")
        if self.availability_zone is not None and not self.availability_zone:
            raise InvalidError("availability_zone must not be empty")
        object.__setattr__(self, "instance_uuids", self._uuids())
        _hosts("ignore_hosts", self.ignore_hosts)
        _hosts("force_hosts", self.force_hosts)
        _hosts("force_nodes", self.force_nodes)
        _hosts("explain_hosts", self.explain_hosts)
        both = sorted(set(self.force_hosts) & set(self.ignore_hosts))
        if both:
            raise InvalidError(
                f"force_hosts and ignore_hosts both name {', '.join(both)}: "
                "a host cannot be forced and ignored at once"
            )

    def _uuids(self) -> tuple[str, ...]:
        if not self.instance_uuids:
            return tuple(str(uuid.uuid4()) for _ in range(self.num_instances))
        if len(self.instance_uuids) != self.num_instances:
            raise InvalidError(
                f"instance_uuids has {len(self.instance_uuids)} uuids for "
                f"num_instances={self.num_instances}"
            )
        for value in self.instance_uuids:
            if not is_uuid_like(value):
                raise InvalidError(f"instance_uuids: {value!r} is not a uuid")
        out = tuple(normalize(value) for value in self.instance_uuids)
        if len(set(out)) != len(out):
            raise InvalidError("instance_uuids names an instance twice")
        return out
