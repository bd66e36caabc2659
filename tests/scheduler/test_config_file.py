"""The scheduler configuration file: every key parsed, every mistake named by its key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.model.errors import InvalidError
from berth.model.guest import PciNumaPolicy
from berth.model.topology import PciDeviceType
from berth.scheduler.config import DEFAULT_FILTERS, DEFAULT_WEIGHTS, SchedulerConfig, Strategy
from berth.scheduler.config_file import KEYS, check_names, parse_config
from berth.scheduler.registry import FILTERS, WEIGHERS

EXAMPLE = """
strategy: pack
filters: [ComputeFilter, AvailabilityZoneFilter, NUMATopologyFilter, PciPassthroughFilter]
weights: {RAMWeigher: 2.0, IoOpsWeigher: -0.5}   # merged over the defaults
default_availability_zone: az0
io_ops_window_s: 120
max_attempts: 6
pci_aliases:
  - {name: a1, vendor_id: "10de", product_id: "1DB4", device_type: type-PCI,
     numa_policy: preferred}
  - '{"name": "vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"}'
"""


def test_the_readme_example_parses_whole() -> None:
    config = parse_config(yaml.safe_load(EXAMPLE))
    assert config.strategy is Strategy.PACK
    assert config.filters == (
        "ComputeFilter",
        "AvailabilityZoneFilter",
        "NUMATopologyFilter",
        "PciPassthroughFilter",
    )
    assert config.weights == {**DEFAULT_WEIGHTS, "RAMWeigher": 2.0, "IoOpsWeigher": -0.5}
    assert config.multiplier("RAMWeigher") == -2.0  # packing flips resource weighers
    assert config.multiplier("CPUWeigher") == -1.0
    assert config.multiplier("IoOpsWeigher") == -0.5  # not a resource weigher: kept
    assert config.default_availability_zone == "az0"
    assert config.io_ops_window_s == 120.0 and isinstance(config.io_ops_window_s, float)
    assert config.max_attempts == 6
    assert set(config.pci_aliases) == {"a1", "vf"}
    a1 = config.pci_aliases["a1"]
    assert (a1.vendor_id, a1.product_id) == ("10de", "1db4")
    assert a1.device_type is PciDeviceType.PCI
    assert a1.numa_policy is PciNumaPolicy.PREFERRED
    assert config.pci_aliases["vf"].device_type is PciDeviceType.VF


def test_the_readme_example_is_a_valid_file() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("### Configuration") :]
    found = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert found is not None
    config = parse_config(yaml.safe_load(found.group(1)))
    assert config.strategy is Strategy.PACK and set(config.pci_aliases) == {"a1"}


@pytest.mark.parametrize("data", [None, {}])
def test_empty_is_the_defaults(data: Any) -> None:
    assert parse_config(data) == SchedulerConfig()


def test_absent_keys_keep_their_defaults() -> None:
    config = parse_config({"max_attempts": 9})
    defaults = SchedulerConfig()
    assert config.max_attempts == 9
    assert config.filters == DEFAULT_FILTERS
    assert dict(config.weights) == dict(DEFAULT_WEIGHTS)
    assert config.strategy is Strategy.SPREAD
    assert config.io_ops_window_s == defaults.io_ops_window_s
    assert config.default_availability_zone == defaults.default_availability_zone
    assert config.pci_aliases == {}


def test_filters_as_novas_comma_separated_string() -> None:
    config = parse_config({"filters": " ComputeFilter, NUMATopologyFilter "})
    assert config.filters == ("ComputeFilter", "NUMATopologyFilter")


@pytest.mark.parametrize("empty", [[], ""])
def test_no_filters_at_all_is_allowed(empty: object) -> None:
    assert parse_config({"filters": empty}).filters == ()


def test_filter_order_is_kept() -> None:
    names = list(reversed(DEFAULT_FILTERS))
    assert parse_config({"filters": names}).filters == tuple(names)


def test_zero_weight_disables_and_strategy_spread_keeps_signs() -> None:
    config = parse_config({"strategy": "spread", "weights": {"DiskWeigher": 0, "CPUWeigher": 3}})
    assert config.multiplier("DiskWeigher") == 0.0
    assert config.multiplier("CPUWeigher") == 3.0
    assert isinstance(config.weights["CPUWeigher"], float)


def test_the_defaults_do_not_leak_between_configs() -> None:
    parse_config({"weights": {"RAMWeigher": 7}})
    assert DEFAULT_WEIGHTS["RAMWeigher"] == 1.0
    assert parse_config({}).weights["RAMWeigher"] == 1.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # the document itself
        (["strategy", "pack"], "must map keys to values"),
        ("strategy: pack", "must map keys to values"),
        ({"stratgy": "pack"}, "unknown key 'stratgy'; known keys: filters, weights"),
        ({1: "x"}, "unknown key '1'"),
        # filters
        ({"filters": ["ComputeFilter", "RamFilter"]}, "filters: unknown scheduler filter"),
        ({"filters": "ComputeFilter,,NUMATopologyFilter"}, "filters: has an empty name"),
        ({"filters": ["ComputeFilter", " "]}, "filters: has an empty name"),
        ({"filters": ["ComputeFilter", "ComputeFilter"]}, "filters: ComputeFilter is listed"),
        ({"filters": {"ComputeFilter": True}}, "filters: must be a list"),
        ({"filters": ["ComputeFilter", 3]}, "filters: must be a list"),
        ({"filters": None}, "filters: must be a list"),
        # weights
        ({"weights": {"RamWeigher": 1.0}}, "weights: unknown scheduler weigher(s) RamWeigher"),
        ({"weights": ["RAMWeigher"]}, "weights: must map weigher names"),
        ({"weights": None}, "weights: must map weigher names"),
        ({"weights": {"RAMWeigher": "2"}}, "weights: RAMWeigher: must be a finite number"),
        ({"weights": {"RAMWeigher": True}}, "weights: RAMWeigher: must be a finite number"),
        ({"weights": {"RAMWeigher": None}}, "weights: RAMWeigher: must be a finite number"),
        ({"weights": {"RAMWeigher": float("inf")}}, "weights: RAMWeigher: must be a finite"),
        ({"weights": {"RAMWeigher": float("nan")}}, "weights: RAMWeigher: must be a finite"),
        ({"weights": {3: 1.0}}, "weights: weigher names must be strings"),
        # strategy
        ({"strategy": "fill"}, "strategy: must be one of spread, pack, got 'fill'"),
        ({"strategy": "PACK"}, "strategy: must be one of"),
        ({"strategy": None}, "strategy: must be one of"),
        ({"strategy": ["pack"]}, "strategy: must be one of"),
        # positive integers
        ({"max_attempts": 0}, "max_attempts: must be an integer of at least 1, got 0"),
        ({"max_attempts": -3}, "max_attempts: must be an integer of at least 1, got -3"),
        ({"max_attempts": 2.5}, "max_attempts: must be an integer"),
        ({"max_attempts": 4.0}, "max_attempts: must be an integer"),
        ({"max_attempts": "4"}, "max_attempts: must be an integer"),
        ({"max_attempts": True}, "max_attempts: must be an integer"),
        ({"max_attempts": None}, "max_attempts: must be an integer"),
        # positive numbers
        ({"io_ops_window_s": 0}, "io_ops_window_s: must be greater than 0, got 0"),
        ({"io_ops_window_s": -1.5}, "io_ops_window_s: must be greater than 0"),
        ({"io_ops_window_s": "2m"}, "io_ops_window_s: must be a finite number"),
        ({"io_ops_window_s": False}, "io_ops_window_s: must be a finite number"),
        ({"io_ops_window_s": float("inf")}, "io_ops_window_s: must be a finite number"),
        # zone
        ({"default_availability_zone": ""}, "default_availability_zone: must be a name"),
        ({"default_availability_zone": "  "}, "default_availability_zone: must be a name"),
        ({"default_availability_zone": 5}, "default_availability_zone: must be a name"),
        ({"default_availability_zone": "z" * 256}, "default_availability_zone: must be a name"),
        ({"default_availability_zone": "az:cn1"}, "default_availability_zone: must not contain"),
        # PCI aliases
        ({"pci_aliases": {"name": "a1"}}, "pci_aliases: must be a list"),
        ({"pci_aliases": "a1"}, "pci_aliases: must be a list"),
        ({"pci_aliases": [3]}, r"pci_aliases[0]: must be a mapping"),
        ({"pci_aliases": [{"name": "a"}, [1]]}, r"pci_aliases[1]: must be a mapping"),
        ({"pci_aliases": [{1: "x"}]}, r"pci_aliases[0]: must be a mapping"),
        (
            {"pci_aliases": [{"name": "a1", "vendor_id": 1234, "product_id": "1db4"}]},
            r"pci_aliases[0]: vendor_id must be 4 hexadecimal digits in quotes",
        ),
        (
            {"pci_aliases": [{"name": "a1", "vendor_id": "10de", "product_id": 8}]},
            r"pci_aliases[0]: product_id must be 4 hexadecimal digits in quotes",
        ),
        (
            {"pci_aliases": [{"name": "a1", "vendor_id": "10de", "product_id": "xyz1"}]},
            "pci_aliases: PCI alias 'a1': product_id must be 4 hexadecimal digits",
        ),
        (
            {"pci_aliases": [{"name": "a1", "vendor_id": "10de"}]},
            "pci_aliases: PCI alias 'a1': vendor_id and product_id are required",
        ),
        (
            {"pci_aliases": [{"name": "a1", "resource_class": "GPU", "colour": "red"}]},
            "pci_aliases: PCI alias 'a1': unknown key 'colour'",
        ),
        (
            {"pci_aliases": [{"name": "a1", "resource_class": "G", "numa_policy": "close"}]},
            "pci_aliases: PCI alias 'a1': numa_policy must be one of",
        ),
        (
            {"pci_aliases": [{"name": "a1", "resource_class": "G"}] * 2},
            "pci_aliases: PCI alias 'a1' is defined twice",
        ),
        ({"pci_aliases": ["{not json"]}, "pci_aliases: PCI alias is not valid JSON"),
    ],
)
def test_every_mistake_names_its_key(data: Any, message: str) -> None:
    with pytest.raises(InvalidError) as info:
        parse_config(data)
    assert message in info.value.message


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(InvalidError) as info:
        parse_config({"filters": ["CoreFilter"]})
    assert all(name in info.value.message for name in FILTERS)
    with pytest.raises(InvalidError) as info:
        parse_config({"weights": {"MetricsWeigher": 1.0}})
    assert all(name in info.value.message for name in WEIGHERS)


def test_check_names_catches_a_config_built_in_code() -> None:
    with pytest.raises(InvalidError, match="filters: unknown scheduler filter"):
        check_names(SchedulerConfig(filters=("Nope",)))
    check_names(SchedulerConfig())


def test_known_keys_are_the_config_fields() -> None:
    assert set(KEYS) == set(SchedulerConfig.__dataclass_fields__)
