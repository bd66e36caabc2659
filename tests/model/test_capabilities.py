"""How a ``capabilities:`` path resolves on a host's registered capabilities."""

from __future__ import annotations

import json

import pytest

from berth.model.capabilities import (
    HostCapabilities,
    capabilities_from_json,
    capabilities_to_json,
    version_parts,
    version_text,
)
from berth.scheduler.spec_match import parse_match

CAPS = HostCapabilities(
    hypervisor_type="QEMU",
    hypervisor_version=8002000,
    hypervisor_hostname="cn1.example.org",
    cpu_info={
        "arch": "x86_64",
        "vendor": "Intel",
        "model": "Haswell",
        "topology": {"sockets": 2, "cores": 8, "threads": 2},
        "features": ["avx2", "sse4.2", "vmx"],
        "nested": True,
    },
    supported_instances=(("x86_64", "kvm", "hvm"), ("i686", "qemu", "hvm")),
    stats={"rack": "r12", "hypervisor_hostname": "shadowed", "blob": '{"a": {"b": "deep"}}'},
)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("hypervisor_type",), "QEMU"),
        (("hypervisor_version",), "8002000"),
        (("hypervisor_hostname",), "cn1.example.org"),  # the attribute wins over a stat
        (("cpu_info", "vendor"), "Intel"),
        (("cpu_info", "topology", "cores"), "8"),
        (("cpu_info", "features"), ("avx2", "sse4.2", "vmx")),
        (("cpu_info", "nested"), "True"),
        (("cpu_info", "topology"), '{"cores":8,"sockets":2,"threads":2}'),
        (("supported_instances",), ("x86_64", "kvm", "hvm", "i686", "qemu", "hvm")),
        (("rack",), "r12"),  # not an attribute: a stat
        (("stats", "rack"), "r12"),
        (("blob", "a", "b"), "deep"),  # a text value is read as JSON to go deeper
        (("cpu_info", "flags"), None),
        (("cpu_info", "vendor", "x"), None),  # "Intel" is no JSON object
        (("rack", "x"), None),
        (("free_ram_mb",), None),
        ((), None),
    ],
)
def test_lookup(path: tuple[str, ...], value: object) -> None:
    assert CAPS.lookup(path) == value


def test_an_attribute_not_reported_falls_back_to_stats() -> None:
    caps = HostCapabilities(stats={"hypervisor_type": "from-stats", "cpu_info": '{"x": "1"}'})
    assert caps.lookup(("hypervisor_type",)) == "from-stats"
    assert caps.lookup(("cpu_info", "x")) == "1"
    assert HostCapabilities().lookup(("hypervisor_type",)) is None


def test_values_feed_nova_operators() -> None:
    features = CAPS.lookup(("cpu_info", "features"))
    assert features is not None
    assert parse_match("k", "<in> avx2").matches(features)
    assert not parse_match("k", "<in> avx512f").matches(features)
    assert parse_match("k", "<all-in> avx2 vmx").matches(features)
    version = CAPS.lookup(("hypervisor_version",))
    assert version is not None
    assert parse_match("k", ">= 8000000").matches(version)
    assert not parse_match("k", ">= 9000000").matches(version)


def test_versions() -> None:
    assert version_parts(2012000) == (2, 12, 0)
    assert version_text(8002001) == "8.2.1"
    assert version_parts(0) == (0, 0, 0)


def test_json_round_trip() -> None:
    doc = capabilities_to_json(CAPS)
    assert json.loads(json.dumps(doc)) == doc
    assert capabilities_from_json(doc) == CAPS
    empty = capabilities_to_json(HostCapabilities())
    assert empty == {
        "hypervisor_type": None,
        "hypervisor_version": None,
        "hypervisor_hostname": None,
        "cpu_info": {},
        "supported_instances": [],
        "stats": {},
    }
    assert capabilities_from_json({}) == HostCapabilities()
