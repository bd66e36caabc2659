"""``berth serve --scheduler-config``: a bad file stops the command before anything starts;
a good one (and ``--scheduler-strategy``) becomes the configuration the server gets."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from berth.cli import scheduler_file
from berth.cli.main import main as cli
from berth.scheduler.config import SchedulerConfig, Strategy

GOOD = """\
strategy: pack
filters: [ComputeFilter, AvailabilityZoneFilter, NUMATopologyFilter, PciPassthroughFilter]
weights: {RAMWeigher: 2.0, IoOpsWeigher: -0.5}
default_availability_zone: nova
io_ops_window_s: 120
max_attempts: 6
pci_aliases:
  - {name: a1, vendor_id: "10de", product_id: "1db4", device_type: type-PCI, numa_policy: preferred}
"""


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    db = f"sqlite:///{tmp_path / 'b.sqlite'}"
    return CliRunner().invoke(cli, ["serve", "--database-url", db, *args], env=env)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yaml", "max_attempts: 0\n", "max_attempts: must be an integer of at least 1"),
        ("bad.yaml", "filters: [ComputeFilter, RamF]\n", "filters: unknown scheduler filter"),
        ("bad.yaml", "weights: {RamWeigher: 1}\n", "weights: unknown scheduler weigher"),
        ("bad.yaml", "stratgy: pack\n", "unknown key 'stratgy'"),
        ("bad.yaml", "io_ops_window_s: -1\n", "io_ops_window_s: must be greater than 0"),
        ("bad.yaml", "filters: [a\n", "cannot parse it"),
        ("bad.json", '{"strategy": "pack",}', "cannot parse it"),
        ("bad.yaml", "- pack\n", "must map keys to values"),
        (
            "bad.yaml",
            "pci_aliases:\n  - {name: a1, vendor_id: 1234, product_id: '1db4'}\n",
            "pci_aliases[0]: vendor_id must be 4 hexadecimal digits in quotes",
        ),
    ],
)
def test_a_bad_file_is_a_usage_error_and_nothing_starts(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    bad = tmp_path / name
    bad.write_text(text)
    result = _serve(tmp_path, "--scheduler-config", str(bad))
    assert result.exit_code == 2, result.output
    assert "Error: Invalid value for --scheduler-config" in result.output
    assert f"scheduler config {bad}: " in result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "b.sqlite").exists()  # the database was never touched


def test_the_environment_variable_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: fill\n")
    result = _serve(tmp_path, env={"BERTH_SCHEDULER_CONFIG": str(bad)})
    assert result.exit_code == 2, result.output
    assert "strategy: must be one of spread, pack, got 'fill'" in result.output
    assert not (tmp_path / "b.sqlite").exists()


def test_a_missing_file_or_strategy_is_a_usage_error(tmp_path: Path) -> None:
    missing = _serve(tmp_path, "--scheduler-config", str(tmp_path / "absent.yaml"))
    assert missing.exit_code == 2 and "does not exist" in missing.output
    wrong = _serve(tmp_path, "--scheduler-strategy", "fill")
    assert wrong.exit_code == 2 and "'fill' is not one of 'pack', 'spread'" in wrong.output
    assert not (tmp_path / "b.sqlite").exists()


def test_a_good_file_gets_past_validation(tmp_path: Path) -> None:
    good = tmp_path / "scheduler.yaml"
    good.write_text(GOOD)
    # A broken policy file is checked next, before any database or worker: reaching its
    # error proves the scheduler configuration was accepted, without starting a server.
    policy = tmp_path / "policy.yaml"
    policy.write_text('"placement:traits:list": "role:admin and"\n')
    result = _serve(tmp_path, "--scheduler-config", str(good), "--policy-file", str(policy))
    assert result.exit_code == 1, result.output
    assert "Error: policy file" in result.output
    assert "scheduler" not in result.output


def test_load_reads_the_file_and_the_strategy_overrides_it(tmp_path: Path) -> None:
    good = tmp_path / "scheduler.yaml"
    good.write_text(GOOD)
    config = scheduler_file.load(good)
    assert config.strategy is Strategy.PACK
    assert config.filters[-1] == "PciPassthroughFilter"
    assert config.weights["RAMWeigher"] == 2.0 and config.multiplier("RAMWeigher") == -2.0
    assert (config.max_attempts, config.io_ops_window_s) == (6, 120.0)
    assert set(config.pci_aliases) == {"a1"}
    spread = scheduler_file.load(good, "spread")
    assert spread.strategy is Strategy.SPREAD and spread.multiplier("RAMWeigher") == 2.0
    assert spread.max_attempts == 6  # the rest of the file still applies


def test_load_without_a_file(tmp_path: Path) -> None:
    assert scheduler_file.load(None) == SchedulerConfig()
    assert scheduler_file.load(None, "pack") == SchedulerConfig(strategy=Strategy.PACK)


def test_json_and_empty_files(tmp_path: Path) -> None:
    js = tmp_path / "scheduler.json"
    js.write_text(json.dumps({"strategy": "pack", "max_attempts": 10}))
    config = scheduler_file.load(js)
    assert (config.strategy, config.max_attempts) == (Strategy.PACK, 10)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing changed\n")
    assert scheduler_file.load(empty) == SchedulerConfig()


def test_unreadable_file(tmp_path: Path) -> None:
    binary = tmp_path / "scheduler.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(click.BadParameter, match="cannot read it"):
        scheduler_file.load(binary)
