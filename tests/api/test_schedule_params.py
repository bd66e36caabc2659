"""``POST /berth/v1/schedule`` bodies -> ``ScheduleRequest``, and the 400s for bad ones.

Form errors come from the JSON schema ("JSON does not validate: ..."); rules that need
more than one field (uuids fitting the count, a host both forced and ignored, a rule on
the wrong server group policy) come from the model's ``InvalidError``. Both name the
field. The full example body here is the one the report shows.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from berth.api.errors import BadRequest
from berth.api.schedule_params import parse_schedule
from berth.model.errors import InvalidError
from berth.model.guest import PciNumaPolicy
from berth.model.schedule import (
    MAX_INSTANCES,
    Flavor,
    Image,
    PortRequest,
    ScheduleRequest,
    ServerGroupPolicy,
    ServerGroupRef,
    VnicType,
)
from berth.scheduler.aliases import parse_aliases
from berth.scheduler.specs import translate

U1 = "6f1c9a57-6b7e-4e4c-8d53-3b1f1f0b2c11"
U2 = "0b6f2c3e-9a61-4a3c-b3f5-2f9d5c3a1e22"
GROUP = "c7a4c1a2-1d9e-4c49-a8d9-5b8e0c6f3d33"

FULL: dict[str, Any] = {
    "flavor": {
        "name": "nfv.medium",
        "vcpus": 4,
        "memory_mb": 4096,
        "root_gb": 20,
        "ephemeral_gb": 0,
        "swap_mb": 512,
        "extra_specs": {
            "hw:cpu_policy": "mixed",
            "hw:cpu_dedicated_mask": "^0-1",
            "hw:numa_nodes": 2,
            "hw:mem_page_size": "1GB",
            "hw:cpu_realtime": False,
            "trait:HW_CPU_X86_AVX2": "required",
            "pci_passthrough:alias": "a1:1",
        },
    },
    "image": {
        "properties": {"hw_architecture": "x86_64", "img_hv_type": "kvm"},
        "min_ram_mb": 1024,
        "min_disk_gb": 10,
    },
    "availability_zone": "az1",
    "project_id": "proj",
    "user_id": "user",
    "server_group": {
        "uuid": GROUP.upper(),
        "name": "web",
        "policy": "anti-affinity",
        "rules": {"max_server_per_host": 2},
    },
    "num_instances": 2,
    "instance_uuids": [U1, U2.replace("-", "")],
    "ignore_hosts": ["cn9"],
    "force_hosts": ["cn1", "cn2"],
    "force_nodes": ["cn1"],
    "ports": [
        {"id": "port-a", "physnet": "physnet1", "vnic_type": "direct",
         "numa_affinity_policy": "required"},
        {"physnet": "physnet2", "vnic_type": "direct-physical"},
    ],
    "boot_from_volume": False,
    "dry_run": True,
    "explain_hosts": ["cn3"],
}


def test_full_body() -> None:
    got = parse_schedule(copy.deepcopy(FULL))
    assert got == ScheduleRequest(
        flavor=Flavor(
            name="nfv.medium",
            vcpus=4,
            memory_mb=4096,
            root_gb=20,
            swap_mb=512,
            extra_specs=(
                ("hw:cpu_dedicated_mask", "^0-1"),
                ("hw:cpu_policy", "mixed"),
                ("hw:cpu_realtime", "False"),
                ("hw:mem_page_size", "1GB"),
                ("hw:numa_nodes", "2"),
                ("pci_passthrough:alias", "a1:1"),
                ("trait:HW_CPU_X86_AVX2", "required"),
            ),
        ),
        image=Image(
            properties=(("hw_architecture", "x86_64"), ("img_hv_type", "kvm")),
            min_ram_mb=1024,
            min_disk_gb=10,
        ),
        availability_zone="az1",
        project_id="proj",
        user_id="user",
        server_group=ServerGroupRef(
            ServerGroupPolicy.ANTI_AFFINITY, uuid=GROUP, name="web", max_server_per_host=2
        ),
        num_instances=2,
        instance_uuids=(U1, U2),
        ignore_hosts=("cn9",),
        force_hosts=("cn1", "cn2"),
        force_nodes=("cn1",),
        ports=(
            PortRequest("physnet1", VnicType.DIRECT, PciNumaPolicy.REQUIRED, id="port-a"),
            PortRequest("physnet2", VnicType.DIRECT_PHYSICAL),
        ),
        dry_run=True,
        explain_hosts=("cn3",),
    )


def test_minimal_body_gets_defaults_and_fresh_uuids() -> None:
    got = parse_schedule(
        {"flavor": {"name": "m1", "vcpus": 1, "memory_mb": 512}, "project_id": "p",
         "user_id": "u", "num_instances": 3}
    )
    assert got.flavor == Flavor("m1", 1, 512)
    assert got.image == Image()
    assert got.server_group is None
    assert (got.ports, got.force_hosts, got.explain_hosts) == ((), (), ())
    assert not got.dry_run and not got.boot_from_volume
    assert len(got.instance_uuids) == 3 == len(set(got.instance_uuids))
    assert all(str(uuid.UUID(u)) == u for u in got.instance_uuids)


def _with(path: str, value: Any) -> dict[str, Any]:
    """FULL with one field replaced (``a.b.c``); value ``...`` deletes it."""
    body = copy.deepcopy(FULL)
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return body


SCHEMA_ERRORS = [
    ("flavor", ..., "'flavor' is a required property"),
    ("project_id", "", "project_id"),
    ("flavor.vcpus", 0, "vcpus"),
    ("flavor.vcpus", "4", "'4' is not of type 'integer'"),
    ("flavor.memory_mb", -1, "memory_mb"),
    ("flavor.swap_mb", -5, "swap_mb"),
    ("flavor.colour", "red", "'colour' was unexpected"),
    ("flavor.extra_specs", {"bad key!": "x"}, "does not match"),
    ("flavor.extra_specs", {"hw:cpu_policy": ["dedicated"]}, "hw:cpu_policy"),
    ("image.properties", {"hw_numa_nodes": None}, "hw_numa_nodes"),
    ("num_instances", 0, "num_instances"),
    ("num_instances", MAX_INSTANCES + 1, "num_instances"),
    ("instance_uuids", ["not-a-uuid", U2], "instance_uuids"),
    ("server_group.policy", "together", "'together' is not one of"),
    ("server_group", {"policy": "affinity"}, "server_group"),
    ("server_group.rules", {"max_server_per_host": 0}, "max_server_per_host"),
    ("server_group.rules", {"spread": 1}, "'spread' was unexpected"),
    ("ports", [{"vnic_type": "direct"}], "'physnet' is a required property"),
    ("ports", [{"physnet": "p", "vnic_type": "normal"}], "'normal' is not one of"),
    ("ports", [{"physnet": "p", "numa_affinity_policy": "near"}], "'near' is not one of"),
    ("force_hosts", ["cn1", "cn1"], "has non-unique elements"),
    ("explain_hosts", [""], "explain_hosts"),
    ("dry_run", "yes", "'yes' is not of type 'boolean'"),
    ("surprise", 1, "'surprise' was unexpected"),
]


@pytest.mark.parametrize(("path", "value", "message"), SCHEMA_ERRORS)
def test_schema_refusals(path: str, value: Any, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_schedule(_with(path, value))
    assert info.value.message.startswith("JSON does not validate: ")
    assert message in info.value.message


def test_non_object_body() -> None:
    with pytest.raises(BadRequest):
        parse_schedule([FULL])


MODEL_ERRORS = [
    ("instance_uuids", [U1], "instance_uuids has 1 uuids for num_instances=2"),
    ("instance_uuids", [U1, U1.upper()], "instance_uuids names an instance twice"),
    ("ignore_hosts", ["cn2", "cn9"],
     "force_hosts and ignore_hosts both name cn2: a host cannot be forced and ignored"),
    ("server_group.policy", "affinity",
     "server_group rules max_server_per_host is only valid with the anti-affinity policy, "
     "not affinity"),
]


@pytest.mark.parametrize(("path", "value", "message"), MODEL_ERRORS)
def test_model_refusals(path: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidError) as info:
        parse_schedule(_with(path, value))
    assert message in info.value.message


def flavor(**kwargs: Any) -> Flavor:
    return Flavor(**{"name": "f", "vcpus": 2, "memory_mb": 2048, **kwargs})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: flavor(vcpus=0), "flavor vcpus must be between 1 and 4096"),
        (lambda: flavor(memory_mb=0), "flavor memory_mb must be between 1"),
        (lambda: flavor(root_gb=-1), "flavor root_gb must be between 0"),
        (lambda: flavor(extra_specs=(("a:b", "1"), ("a:b", "2"))), "extra spec a:b is given twice"),
        (lambda: Image(min_ram_mb=-1), "image min_ram_mb must be between 0"),
        (lambda: Image(properties=(("k", "1"), ("k", "1"))), "image property k is given twice"),
        (lambda: ServerGroupRef(ServerGroupPolicy.AFFINITY), "server_group needs a uuid or a name"),
        (lambda: ServerGroupRef(ServerGroupPolicy.AFFINITY, uuid="nope"),
         "server_group uuid 'nope' is not a uuid"),
        (lambda: ServerGroupRef(ServerGroupPolicy.ANTI_AFFINITY, name="g", max_server_per_host=0),
         "max_server_per_host must be at least 1"),
        (lambda: ServerGroupRef(ServerGroupPolicy.SOFT_ANTI_AFFINITY, name="g",
                                max_server_per_host=2), "only valid with the anti-affinity"),
        (lambda: PortRequest(""), "port physnet must not be empty"),
        (lambda: ScheduleRequest(flavor=flavor(), project_id="p", user_id="u", num_instances=0),
         "num_instances must be between 1 and 1000"),
        (lambda: ScheduleRequest(flavor=flavor(), project_id="", user_id="u"),
         "project_id must be 1 to 255 characters"),
        (lambda: ScheduleRequest(flavor=flavor(), project_id="p", user_id="u",
                                 availability_zone=""), "availability_zone must not be empty"),
        (lambda: ScheduleRequest(flavor=flavor(), project_id="p", user_id="u",
                                 instance_uuids=("x",)), "instance_uuids: 'x' is not a uuid"),
        (lambda: ScheduleRequest(flavor=flavor(), project_id="p", user_id="u",
                                 explain_hosts=("a", "a")), "explain_hosts names a host twice"),
        (lambda: ScheduleRequest(flavor=flavor(), project_id="p", user_id="u",
                                 force_nodes=("",)), "force_nodes has an empty"),
    ],
)
def test_model_invariants(build: Any, message: str) -> None:
    with pytest.raises(InvalidError) as info:
        build()
    assert message in info.value.message


def test_specs_are_sorted_and_compared_by_content() -> None:
    one = flavor(extra_specs=(("b", "2"), ("a", "1")))
    assert one.extra_specs == (("a", "1"), ("b", "2"))
    assert one == flavor(extra_specs=(("a", "1"), ("b", "2")))
    assert one.specs == {"a": "1", "b": "2"}


def test_full_body_translates() -> None:
    """The example body end to end: what the scheduler will search with."""
    aliases = parse_aliases([{"name": "a1", "vendor_id": "8086", "product_id": "154d"}])
    got = translate(parse_schedule(copy.deepcopy(FULL)), aliases)
    assert got.unsuffixed.resources == {"VCPU": 2, "PCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 21}
    assert got.unsuffixed.traits.required == {"HW_CPU_X86_AVX2"}
    assert [(g.suffix, dict(g.resources)) for g in got.groups[1:]] == [
        ("port0", {"SRIOV_NET_VF": 1}),
        ("pci0_0", {"CUSTOM_PCI_8086_154D": 1}),
    ]
    assert got.image.architecture == "x86_64" and got.image.hypervisor_type == "kvm"
    assert got.guest is not None
    assert [(sorted(c.cpus), c.memory_mb, sorted(c.dedicated)) for c in got.guest.cells] == [
        ([0, 1], 2048, []),
        ([2, 3], 2048, [2, 3]),
    ]
    assert [p.source for p in got.pci] == ["pci_passthrough:alias a1", "port port-a", "port 1"]
