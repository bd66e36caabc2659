"""ComputeCapabilitiesFilter and ImagePropertiesFilter through the real pipeline, on every
engine: hosts register capabilities in the store, ``Scheduler.schedule`` decides, and the
explanation must say, per requirement, why each host was turned away."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from berth.db import host_capabilities, inventories, providers
from berth.db.engine import Store
from berth.model.capabilities import HostCapabilities
from berth.model.inventory import Inventory
from berth.model.schedule import Flavor, Image, ScheduleRequest
from berth.scheduler import facts
from berth.scheduler.config import DEFAULT_FILTERS, SchedulerConfig
from berth.scheduler.pipeline import Decision
from berth.scheduler.service import Scheduler

HASWELL = HostCapabilities(
    hypervisor_type="QEMU",
    hypervisor_version=8002000,
    hypervisor_hostname="cn-intel.example.org",
    cpu_info={
        "arch": "x86_64",
        "vendor": "Intel",
        "model": "Haswell",
        "topology": {"sockets": 2, "cores": 8, "threads": 2},
        "features": ["avx2", "sse4.2", "vmx"],
    },
    supported_instances=(("x86_64", "kvm", "hvm"), ("i686", "kvm", "hvm")),
    stats={"rack": "r12"},
)
EPYC = HostCapabilities(
    hypervisor_type="QEMU",
    hypervisor_version=6000000,
    cpu_info={
        "arch": "x86_64",
        "vendor": "AMD",
        "topology": {"sockets": 1, "cores": 64, "threads": 2},
        "features": ["avx2", "svm"],
    },
    supported_instances=(("x86_64", "kvm", "hvm"),),
    stats={"rack": "r7"},
)
GRAVITON = HostCapabilities(
    hypervisor_type="QEMU",
    hypervisor_version=7000000,
    cpu_info={"arch": "aarch64", "vendor": "ARM", "features": ["neon"]},
    supported_instances=(("aarch64", "kvm", "hvm"),),
)
XEN = HostCapabilities(
    hypervisor_type="Xen",
    hypervisor_version=4017000,
    supported_instances=(("x86_64", "xen", "hvm"),),
)


def _host(store: Store, name: str, caps: HostCapabilities | None) -> str:
    rp = str(uuid.uuid4())
    with store.write() as conn:
        created = providers.create(conn, uuid=rp, name=name, parent_uuid=None)
        inventories.replace(
            conn,
            created.id,
            {
                "VCPU": Inventory(64, allocation_ratio=1.0),
                "MEMORY_MB": Inventory(65536),
                "DISK_GB": Inventory(1000),
            },
        )
    if caps is not None:
        host_capabilities.save(store, rp, caps)
    return rp


def _cloud(store: Store) -> dict[str, str]:
    return {
        "cn-intel": _host(store, "cn-intel", HASWELL),
        "cn-amd": _host(store, "cn-amd", EPYC),
        "cn-arm": _host(store, "cn-arm", GRAVITON),
        "cn-xen": _host(store, "cn-xen", XEN),
        "cn-bare": _host(store, "cn-bare", None),
    }


def _decide(
    store: Store,
    specs: Mapping[str, str] | None = None,
    props: Mapping[str, str] | None = None,
    config: SchedulerConfig | None = None,
) -> Decision:
    request = ScheduleRequest(
        flavor=Flavor(
            name="m1",
            vcpus=2,
            memory_mb=2048,
            root_gb=10,
            extra_specs=tuple((specs or {}).items()),
        ),
        image=Image(properties=tuple((props or {}).items())),
        project_id="p1",
        user_id="u1",
        dry_run=True,
        explain_hosts=("cn-intel", "cn-amd", "cn-arm", "cn-xen", "cn-bare"),
    )
    return Scheduler(store, config).schedule(request)


def _stage(decision: Decision, name: str) -> dict[str, int]:
    for stage in decision.explanation.as_json()["stages"]:
        if stage["stage"] == name:
            return dict(stage["reasons"])
    raise AssertionError(f"no stage {name}")


def _survivors(decision: Decision, names: list[str]) -> set[str]:
    """The named hosts no filter removed (being outweighed is only a note)."""
    return {n for n in names if all(r.stage == "weighers" for r in decision.explanation.why_not(n))}


def _why(decision: Decision, host: str) -> tuple[str, str, str]:
    first = decision.explanation.why_not(host)[0]
    return first.stage, first.reason, first.detail


ALL = ["cn-intel", "cn-amd", "cn-arm", "cn-xen", "cn-bare"]


def test_nothing_asked_nothing_checked(store: Store) -> None:
    _cloud(store)
    decision = _decide(store)
    assert decision.ok
    assert _stage(decision, "ComputeCapabilitiesFilter") == {}
    assert _stage(decision, "ImagePropertiesFilter") == {}
    assert decision.explanation.summary() == "1/5 hosts"


def test_cpu_vendor_and_unregistered_hosts(store: Store) -> None:
    rp = _cloud(store)
    decision = _decide(store, {"capabilities:cpu_info:vendor": "Intel"})
    assert [p.host_uuid for p in decision.placements] == [rp["cn-intel"]]
    assert _stage(decision, "ComputeCapabilitiesFilter") == {
        "lacks capability cpu_info:vendor=Intel": 3,
        "registered no capabilities": 1,
    }
    assert _why(decision, "cn-amd") == (
        "ComputeCapabilitiesFilter",
        "lacks capability cpu_info:vendor=Intel",
        "capabilities:cpu_info:vendor: host cn-amd has 'AMD'",
    )
    assert _why(decision, "cn-xen")[2] == (
        "capabilities:cpu_info:vendor: host cn-xen reports no cpu_info:vendor"
    )
    stage, reason, detail = _why(decision, "cn-bare")
    assert (stage, reason) == ("ComputeCapabilitiesFilter", "registered no capabilities")
    assert f"PUT /berth/v1/hosts/{rp['cn-bare']}/capabilities" in detail
    assert "capabilities:cpu_info:vendor" in detail


def test_operators_on_features_versions_topology_and_stats(store: Store) -> None:
    rp = _cloud(store)
    cases: list[tuple[dict[str, str], set[str]]] = [
        ({"capabilities:cpu_info:features": "<in> avx2"}, {"cn-intel", "cn-amd"}),
        ({"capabilities:cpu_info:features": "<all-in> avx2 vmx"}, {"cn-intel"}),
        ({"capabilities:hypervisor_version": ">= 7000000"}, {"cn-intel", "cn-arm"}),
        ({"capabilities:hypervisor_type": "s== Xen"}, {"cn-xen"}),
        ({"capabilities:cpu_info:topology:cores": ">= 16"}, {"cn-amd"}),
        ({"capabilities:rack": "<or> r7 <or> r99"}, {"cn-amd"}),
        ({"capabilities:stats:rack": "r12"}, {"cn-intel"}),
        (
            {"capabilities:cpu_info:arch": "x86_64", "capabilities:hypervisor_version": "< 1"},
            set(),
        ),
    ]
    for specs, fits in cases:
        decision = _decide(store, specs)
        assert _survivors(decision, ALL) == fits, (specs, decision.explanation.summary())
        assert decision.ok == bool(fits)
        if fits:
            assert {p.host_uuid for p in decision.placements} <= {rp[n] for n in fits}


def test_each_host_counts_once_under_its_first_unmet_spec(store: Store) -> None:
    _cloud(store)
    decision = _decide(
        store,
        {"capabilities:cpu_info:arch": "x86_64", "capabilities:cpu_info:features": "<in> vmx"},
    )
    assert _stage(decision, "ComputeCapabilitiesFilter") == {
        # sorted by key: the arch spec is checked first
        "lacks capability cpu_info:arch=x86_64": 2,  # cn-arm (aarch64), cn-xen (none)
        "lacks capability cpu_info:features <in> vmx": 1,  # cn-amd
        "registered no capabilities": 1,
    }
    _, _, detail = _why(decision, "cn-amd")
    assert detail == "capabilities:cpu_info:features: host cn-amd has [avx2, svm]"


def test_image_architecture_type_and_mode(store: Store) -> None:
    rp = _cloud(store)
    decision = _decide(store, props={"hw_architecture": "aarch64"})
    assert [p.host_uuid for p in decision.placements] == [rp["cn-arm"]]
    assert _stage(decision, "ImagePropertiesFilter") == {
        "does not support hw_architecture=aarch64": 3,
        "registered no capabilities": 1,
    }
    assert _why(decision, "cn-intel")[2] == (
        "host cn-intel supports x86_64/kvm/hvm, i686/kvm/hvm; the image needs aarch64/*/*"
    )
    # Aliases on the image side are canonical too: amd64 is x86_64, xapi is xen.
    xen = _decide(store, props={"architecture": "amd64", "img_hv_type": "xapi"})
    assert _survivors(xen, ALL) == {"cn-xen"}
    assert (
        _stage(xen, "ImagePropertiesFilter")[
            "does not support hw_architecture=x86_64, img_hv_type=xen"
        ]
        == 3
    )
    # The triple is compared position by position: a Xen host running HVM guests is no
    # host for a paravirtualized (vm_mode xen) image.
    pv = _decide(store, props={"hw_vm_mode": "xen"})
    assert not pv.ok
    assert _survivors(pv, ALL) == set()
    i686 = _decide(store, props={"hw_architecture": "i686", "hw_vm_mode": "hvm"})
    assert _survivors(i686, ALL) == {"cn-intel"}


def test_image_without_supported_instances_host(store: Store) -> None:
    """A host that registered capabilities but no supported_instances passes images that
    ask nothing and fails those that name a kind of guest."""
    _host(store, "cn-quiet", HostCapabilities(hypervisor_type="QEMU"))
    assert _decide(store, props={"os_distro": "ubuntu"}).ok
    decision = _decide(store, props={"hw_architecture": "x86_64"})
    assert not decision.ok
    assert _stage(decision, "ImagePropertiesFilter") == {
        "no supported_instances registered (image asks hw_architecture=x86_64)": 1
    }


def test_image_hypervisor_version(store: Store) -> None:
    rp = _cloud(store)
    decision = _decide(
        store, props={"hw_architecture": "x86_64", "img_hv_requested_version": ">=7.0,<9"}
    )
    assert [p.host_uuid for p in decision.placements] == [rp["cn-intel"]]
    reasons = _stage(decision, "ImagePropertiesFilter")
    assert reasons == {
        "does not support hw_architecture=x86_64": 1,  # cn-arm
        "hypervisor version does not satisfy img_hv_requested_version=>=7.0,<9": 2,
        "registered no capabilities": 1,
    }
    assert _why(decision, "cn-amd")[2] == "host cn-amd runs hypervisor version 6.0.0 (6000000)"
    assert _why(decision, "cn-xen")[2] == "host cn-xen runs hypervisor version 4.17.0 (4017000)"
    # A version predicate alone is checked too; a host reporting no version fails it.
    _host(store, "cn-noversion", HostCapabilities(supported_instances=(("x86_64", "kvm", "hvm"),)))
    alone = _decide(store, props={"img_hv_requested_version": ">=4.17"})
    assert _survivors(alone, ALL) == {"cn-intel", "cn-amd", "cn-arm", "cn-xen"}
    assert _stage(alone, "ImagePropertiesFilter") == {
        "hypervisor version does not satisfy img_hv_requested_version=>=4.17": 1,
        "registered no capabilities": 1,
    }


def test_filters_can_be_left_out(store: Store) -> None:
    rp = _cloud(store)
    config = SchedulerConfig(
        filters=tuple(
            f
            for f in DEFAULT_FILTERS
            if f not in ("ComputeCapabilitiesFilter", "ImagePropertiesFilter")
        )
    )
    decision = _decide(
        store,
        {"capabilities:cpu_info:vendor": "Nobody"},
        {"hw_architecture": "s390x"},
        config=config,
    )
    assert decision.ok and decision.placements[0].host_uuid in rp.values()


def test_capabilities_are_loaded_only_when_asked(store: Store) -> None:
    rp = _cloud(store)
    with store.read() as conn:
        roots = [providers.get(conn, uuid).id for uuid in rp.values()]
    unasked = facts.load(store, roots, group_uuid=None, topology_needed=False)
    assert unasked.capabilities == {}
    asked = facts.load(
        store, roots, group_uuid=None, topology_needed=False, capabilities_needed=True
    )
    assert sorted(asked.capabilities.values(), key=repr) == sorted(
        [HASWELL, EPYC, GRAVITON, XEN], key=repr
    )
