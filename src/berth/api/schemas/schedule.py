"""Request schema for ``POST /berth/v1/schedule``: place instances in one atomic call.

The body carries what Nova's conductor hands its scheduler for a boot, in berth's own
shape. The schema fixes the form (types, bounds, no unknown fields); the meaning of
extra specs and image properties is checked on translation (``berth.scheduler.specs``),
which names the offending key. Every field is described below; a minimal body is
``{"flavor": {"name": "m1.small", "vcpus": 1, "memory_mb": 2048}, "project_id": "p",
"user_id": "u"}``.
"""

from __future__ import annotations

from typing import Any

from berth.model.guest import PciNumaPolicy
from berth.model.inventory import MAX_INT
from berth.model.schedule import (
    MAX_HOSTS,
    MAX_INSTANCES,
    MAX_NAME_LENGTH,
    MAX_VCPUS,
    ServerGroupPolicy,
    VnicType,
)

# Nova's flavor extra spec key syntax; image property keys follow Glance's similar rule.
SPEC_KEY_PATTERN = "^[a-zA-Z0-9_:. -]{1,255}$"
UUID_PATTERN = "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"

_NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
# Nova stores extra spec values as text but accepts numbers and booleans in its API.
_SPEC_VALUE: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "maxLength": 255},
        {"type": "number"},
        {"type": "boolean"},
    ]
}
_HOSTS: dict[str, Any] = {
    "type": "array",
    "maxItems": MAX_HOSTS,
    "uniqueItems": True,
    "items": _NAME,
}


def _size(description: str, minimum: int = 0, maximum: int = MAX_INT) -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": minimum,
        "maximum": maximum,
        "description": description,
    }


FLAVOR: dict[str, Any] = {
    "type": "object",
    "description": "The flavor to boot, as Nova has it (sizes and extra specs).",
    "properties": {
        "name": {**_NAME, "description": "Flavor name, for explanations only."},
        "vcpus": _size("Guest CPUs.", 1, MAX_VCPUS),
        "memory_mb": _size("Guest memory in MiB.", 1),
        "root_gb": _size("Root disk in GiB (0: sized from the image)."),
        "ephemeral_gb": _size("Ephemeral disk in GiB."),
        "swap_mb": _size("Swap in MiB; counted in DISK_GB rounded up to whole GiB."),
        "extra_specs": {
            "type": "object",
            "description": "Nova's flavor extra specs (hw:*, resources*:*, trait*:*, "
            "pci_passthrough:alias, aggregate_instance_extra_specs:*, capabilities:*, ...). "
            "Unknown hw: keys and unknown namespaces are refused.",
            "maxProperties": 500,
            "propertyNames": {"pattern": SPEC_KEY_PATTERN},
            "additionalProperties": _SPEC_VALUE,
        },
    },
    "required": ["name", "vcpus", "memory_mb"],
    "additionalProperties": False,
}

IMAGE: dict[str, Any] = {
    "type": "object",
    "description": "The image to boot: its Glance properties and minimums.",
    "properties": {
        "properties": {
            "type": "object",
            "description": "Glance image properties. hw_* guest hints (hw_cpu_policy, "
            "hw_numa_nodes, hw_mem_page_size, ...) apply where the flavor allows; "
            "hw_architecture, img_hv_type, hw_vm_mode and img_hv_requested_version are "
            "host requirements; trait:NAME=required requires a trait.",
            "maxProperties": 500,
            "propertyNames": {"pattern": SPEC_KEY_PATTERN},
            "additionalProperties": _SPEC_VALUE,
        },
        "min_ram_mb": _size("The image's min_ram: the flavor must have at least this."),
        "min_disk_gb": _size("The image's min_disk: a sized root disk must be this big."),
    },
    "additionalProperties": False,
}

SERVER_GROUP: dict[str, Any] = {
    "type": "object",
    "description": "The server group the instances join (by uuid or name).",
    "properties": {
        "uuid": {"type": "string", "pattern": UUID_PATTERN, "description": "Group uuid."},
        "name": {**_NAME, "description": "Group name (when there is no uuid)."},
        "policy": {
            "type": "string",
            "enum": [p.value for p in ServerGroupPolicy],
            "description": "Nova's policy: hard (anti-)affinity filters, soft weighs.",
        },
        "rules": {
            "type": "object",
            "description": "Policy rules; only anti-affinity has one.",
            "properties": {
                "max_server_per_host": _size("Members one host may hold.", 1),
            },
            "additionalProperties": False,
        },
    },
    "required": ["policy"],
    "anyOf": [{"required": ["uuid"]}, {"required": ["name"]}],
    "additionalProperties": False,
}

PORT: dict[str, Any] = {
    "type": "object",
    "description": "A Neutron port that needs a device from the host.",
    "properties": {
        "id": {**_NAME, "description": "Port id, for explanations only."},
        "physnet": {**_NAME, "description": "The port network's physical network."},
        "vnic_type": {
            "type": "string",
            "enum": [v.value for v in VnicType],
            "description": "direct/macvtap take an SR-IOV VF, direct-physical a whole PF "
            "(default direct).",
        },
        "numa_affinity_policy": {
            "type": "string",
            "enum": [p.value for p in PciNumaPolicy],
            "description": "The port's NUMA affinity policy; overrides the flavor's.",
        },
    },
    "required": ["physnet"],
    "additionalProperties": False,
}

SCHEDULE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "flavor": FLAVOR,
        "image": IMAGE,
        "availability_zone": {**_NAME, "description": "Availability zone to place in."},
        "project_id": {**_NAME, "description": "Owner project of the instances."},
        "user_id": {**_NAME, "description": "Owner user of the instances."},
        "server_group": SERVER_GROUP,
        "num_instances": _size("How many instances (default 1).", 1, MAX_INSTANCES),
        "instance_uuids": {
            "type": "array",
            "description": "Consumer uuids, one per instance; made up when absent.",
            "minItems": 1,
            "maxItems": MAX_INSTANCES,
            "items": {"type": "string", "pattern": UUID_PATTERN},
        },
        "ignore_hosts": {**_HOSTS, "description": "Hosts not to place on."},
        "force_hosts": {**_HOSTS, "description": "Place only on these hosts."},
        "force_nodes": {**_HOSTS, "description": "Place only on these nodes."},
        "ports": {
            "type": "array",
            "description": "Ports needing SR-IOV devices, in the instance's NIC order.",
            "maxItems": 64,
            "items": PORT,
        },
        "boot_from_volume": {
            "type": "boolean",
            "description": "The root disk is a volume: DISK_GB leaves out root_gb.",
        },
        "dry_run": {
            "type": "boolean",
            "description": "Answer where the instances would go; claim nothing.",
        },
        "explain_hosts": {
            **_HOSTS,
            "description": "Hosts to explain in full: every reason each was not chosen.",
        },
    },
    "required": ["flavor", "project_id", "user_id"],
    "additionalProperties": False,
}
