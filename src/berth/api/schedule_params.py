"""``POST /berth/v1/schedule`` body -> ``ScheduleRequest``.

The body is validated against ``berth.api.schemas.schedule.SCHEDULE`` first (a bad form
is a 400 "JSON does not validate: ..." as everywhere in berth), then turned into the
model's values, whose own checks (count bounds, uuids that fit the count, hosts both
forced and ignored) raise ``InvalidError`` and so also answer 400. Extra spec and image
property values are normalized to text the way Nova stores them (``True`` -> ``"True"``,
``2`` -> ``"2"``), so the translation sees exactly what Nova would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.api.schemas.schedule import SCHEDULE
from berth.api.validation import validate
from berth.model.guest import PciNumaPolicy
from berth.model.schedule import (
    Flavor,
    Image,
    Pairs,
    PortRequest,
    ScheduleRequest,
    ServerGroupPolicy,
    ServerGroupRef,
    VnicType,
    as_pairs,
)


def _text_pairs(values: Mapping[str, Any]) -> Pairs:
    return as_pairs({key: str(value) for key, value in values.items()})


def _flavor(body: Mapping[str, Any]) -> Flavor:
    return Flavor(
        name=body["name"],
        vcpus=body["vcpus"],
        memory_mb=body["memory_mb"],
        root_gb=body.get("root_gb", 0),
        ephemeral_gb=body.get("ephemeral_gb", 0),
        swap_mb=body.get("swap_mb", 0),
        extra_specs=_text_pairs(body.get("extra_specs", {})),
    )


def _image(body: Mapping[str, Any] | None) -> Image:
    if body is None:
        return Image()
    return Image(
        properties=_text_pairs(body.get("properties", {})),
        min_ram_mb=body.get("min_ram_mb", 0),
        min_disk_gb=body.get("min_disk_gb", 0),
    )


def _server_group(body: Mapping[str, Any] | None) -> ServerGroupRef | None:
    if body is None:
        return None
    return ServerGroupRef(
        policy=ServerGroupPolicy(body["policy"]),
        uuid=body.get("uuid"),
        name=body.get("name"),
        max_server_per_host=body.get("rules", {}).get("max_server_per_host"),
    )


def _port(body: Mapping[str, Any]) -> PortRequest:
    policy = body.get("numa_affinity_policy")
    return PortRequest(
        physnet=body["physnet"],
        vnic_type=VnicType(body.get("vnic_type", VnicType.DIRECT.value)),
        numa_policy=PciNumaPolicy(policy) if policy is not None else None,
        id=body.get("id"),
    )


def parse_schedule(body: Any) -> ScheduleRequest:
    """Validate a decoded request body and build the request it describes."""
    validate(SCHEDULE, body)
    return ScheduleRequest(
        flavor=_flavor(body["flavor"]),
        image=_image(body.get("image")),
        availability_zone=body.get("availability_zone"),
        project_id=body["project_id"],
        user_id=body["user_id"],
        server_group=_server_group(body.get("server_group")),
        num_instances=body.get("num_instances", 1),
        instance_uuids=tuple(body.get("instance_uuids", ())),
        ignore_hosts=tuple(body.get("ignore_hosts", ())),
        force_hosts=tuple(body.get("force_hosts", ())),
        force_nodes=tuple(body.get("force_nodes", ())),
        ports=tuple(_port(p) for p in body.get("ports", ())),
        boot_from_volume=body.get("boot_from_volume", False),
        dry_run=body.get("dry_run", False),
        explain_hosts=tuple(body.get("explain_hosts", ())),
    )
