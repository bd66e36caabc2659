"""GET /berth/v1/scheduler shows the configuration the app was built with, and the
configuration is the one POST /berth/v1/schedule decides with."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from berth.api.app import PlacementApp
from berth.api.state import ApiConfig
from berth.scheduler.config_file import parse_config
from berth.scheduler.registry import WEIGHERS
from berth.server import build_app
from conftest import make_client

CONFIG = {
    "strategy": "pack",
    "filters": ["ComputeFilter", "AvailabilityZoneFilter", "NUMATopologyFilter"],
    "weights": {"RAMWeigher": 2.0, "IoOpsWeigher": -0.5, "BuildFailureWeigher": 0},
    "default_availability_zone": "az0",
    "io_ops_window_s": 120,
    "max_attempts": 6,
    "pci_aliases": [
        {"name": "gpu", "vendor_id": "10de", "product_id": "1db4"},
        {"name": "a0", "resource_class": "CUSTOM_FPGA"},
    ],
}


@pytest.fixture
def configured(db_url: str) -> Iterator[PlacementApp]:
    application = build_app(db_url, ApiConfig(), scheduler=parse_config(CONFIG))
    yield application
    application.state.store.dispose()


def test_shows_the_effective_configuration(configured: PlacementApp) -> None:
    with make_client(configured) as c:
        answer = c.get("/berth/v1/scheduler")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["strategy"] == "pack"
    assert body["filters"] == ["ComputeFilter", "AvailabilityZoneFilter", "NUMATopologyFilter"]
    weighers = {w["name"]: (w["multiplier"], w["effective_multiplier"]) for w in body["weighers"]}
    assert [w["name"] for w in body["weighers"]] == list(WEIGHERS)
    assert weighers["RAMWeigher"] == (2.0, -2.0)  # pack flips resource weighers
    assert weighers["CPUWeigher"] == (1.0, -1.0)  # a default, flipped as well
    assert weighers["IoOpsWeigher"] == (-0.5, -0.5)
    assert weighers["BuildFailureWeigher"] == (0.0, 0.0)
    assert weighers["NumInstancesWeigher"] == (0.0, 0.0)
    assert body["max_attempts"] == 6
    assert body["default_availability_zone"] == "az0"
    assert body["io_ops_window_s"] == 120.0
    assert body["pci_aliases"] == ["a0", "gpu"]


def test_defaults_when_nothing_was_configured(client: httpx.Client) -> None:
    body = client.get("/berth/v1/scheduler").json()
    assert body["strategy"] == "spread"
    assert "PciPassthroughFilter" in body["filters"] and len(body["filters"]) == 10
    weighers = {w["name"]: w["effective_multiplier"] for w in body["weighers"]}
    assert weighers["RAMWeigher"] == 1.0 and weighers["IoOpsWeigher"] == -1.0
    assert body["max_attempts"] == 8
    assert body["pci_aliases"] == []


@pytest.mark.parametrize("mode", ["legacy", "secure"])
def test_admin_or_service_only(db_url: str, mode: str) -> None:
    application = build_app(db_url, ApiConfig(policy_defaults=mode))
    try:
        with make_client(application, token="user") as c:
            for roles, status in [
                ("admin", 200),
                ("service", 200),
                ("member,reader", 403),
                ("reader", 403),
                ("", 403),
            ]:
                headers = {"X-Roles": roles, "X-Project-Id": "p1"}
                got = c.get("/berth/v1/scheduler", headers=headers)
                assert got.status_code == status, (roles, got.text)
                if status == 403:
                    assert "berth:scheduler:show" in got.json()["errors"][0]["detail"]
    finally:
        application.state.store.dispose()


def _host(c: httpx.Client, name: str, memory_mb: int) -> str:
    rp = str(uuid.uuid4())
    assert c.post("/resource_providers", json={"name": name, "uuid": rp}).status_code == 200
    inventories = {
        "VCPU": {"total": 16},
        "MEMORY_MB": {"total": memory_mb},
        "DISK_GB": {"total": 200},
    }
    put = c.put(
        f"/resource_providers/{rp}/inventories",
        json={"resource_provider_generation": 0, "inventories": inventories},
    )
    assert put.status_code == 200, put.text
    return rp


@pytest.mark.parametrize(("strategy", "expected"), [("pack", "cn-small"), ("spread", "cn-big")])
def test_the_strategy_reaches_the_scheduler(db_url: str, strategy: str, expected: str) -> None:
    # Only the RAM weigher counts, so the strategy alone decides between the two hosts.
    weights = {name: 0 for name in WEIGHERS} | {"RAMWeigher": 1.0}
    config = parse_config({"strategy": strategy, "weights": weights})
    application = build_app(db_url, ApiConfig(), scheduler=config)
    try:
        with make_client(application) as c:
            _host(c, "cn-big", 65536)
            _host(c, "cn-small", 8192)
            flavor = {"name": "m1", "vcpus": 1, "memory_mb": 1024, "root_gb": 1}
            body = {"flavor": flavor, "project_id": "p1", "user_id": "u1", "dry_run": True}
            answer = c.post("/berth/v1/schedule", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["placements"][0]["host"]["name"] == expected
    finally:
        application.state.store.dispose()
