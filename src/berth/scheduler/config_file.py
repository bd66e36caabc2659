"""The operator's scheduler configuration file (``--scheduler-config``) → ``SchedulerConfig``.

Pure: it takes what a YAML or JSON file parsed into and returns a ``SchedulerConfig``, or
raises ``InvalidError`` whose message starts with the offending key (``max_attempts: must
be an integer of at least 1, got 0``). The whole file is checked here, before gunicorn
forks a single worker, because a typo that only surfaced on the first scheduling request
(or worse, a misspelt weigher silently weighing nothing) is found far too late.

Keys, all optional (absent keys keep the defaults of ``berth.scheduler.config``):

* ``filters``: the filters to run, in order (a list, or Nova's comma-separated string);
* ``weights``: weigher multipliers, merged over the defaults (``0`` disables a weigher);
* ``strategy``: ``spread`` or ``pack`` (flips the RAM/CPU/disk multipliers' sign);
* ``max_attempts``: a positive integer;
* ``io_ops_window_s``: a positive number of seconds;
* ``default_availability_zone``: the zone of hosts in no zone aggregate;
* ``pci_aliases``: Nova's ``[pci] alias`` entries, as mappings or their JSON text
  (``berth.scheduler.aliases`` parses each).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from berth.model.errors import InvalidError
from berth.scheduler import registry
from berth.scheduler.aliases import PciAlias, parse_aliases
from berth.scheduler.config import DEFAULT_WEIGHTS, SchedulerConfig, Strategy

KEYS: tuple[str, ...] = (
    "filters",
    "weights",
    "strategy",
    "max_attempts",
    "default_availability_zone",
    "io_ops_window_s",
    "pci_aliases",
)
MAX_ZONE_NAME = 255


def parse_config(data: object) -> SchedulerConfig:
    """A parsed configuration document (``None`` for an empty file) → ``SchedulerConfig``."""
    if data is None:
        return SchedulerConfig()
    if not isinstance(data, Mapping):
        raise InvalidError(
            f"the scheduler configuration must map keys to values (known keys: "
            f"{', '.join(KEYS)}), got {type(data).__name__}"
        )
    unknown = sorted(str(key) for key in data if key not in KEYS)
    if unknown:
        raise InvalidError(f"unknown key {unknown[0]!r}; known keys: {', '.join(KEYS)}")
    defaults = SchedulerConfig()
    config = SchedulerConfig(
        filters=_filters(data["filters"]) if "filters" in data else defaults.filters,
        weights=_weights(data["weights"]) if "weights" in data else defaults.weights,
        strategy=_strategy(data["strategy"]) if "strategy" in data else defaults.strategy,
        max_attempts=_positive_int(data, "max_attempts", defaults.max_attempts),
        default_availability_zone=(
            _zone(data["default_availability_zone"])
            if "default_availability_zone" in data
            else defaults.default_availability_zone
        ),
        io_ops_window_s=_positive_number(data, "io_ops_window_s", defaults.io_ops_window_s),
        pci_aliases=(
            _aliases(data["pci_aliases"]) if "pci_aliases" in data else defaults.pci_aliases
        ),
    )
    check_names(config)
    return config


def check_names(config: SchedulerConfig) -> None:
    """Every filter and weigher the configuration names exists (``berth.scheduler.registry``
    says which do, and its error lists them)."""
    try:
        registry.filters(config)
    except InvalidError as exc:
        raise InvalidError(f"filters: {exc.message}") from None
    try:
        registry.weighers(config)
    except InvalidError as exc:
        raise InvalidError(f"weights: {exc.message}") from None


def _filters(value: object) -> tuple[str, ...]:
    if isinstance(value, str):  # Nova's enabled_filters = A,B,C
        names = [name.strip() for name in value.split(",")] if value.strip() else []
    elif isinstance(value, list) and all(isinstance(name, str) for name in value):
        names = [str(name).strip() for name in value]
    else:
        raise InvalidError(
            f"filters: must be a list of filter names (or a comma-separated string), "
            f"got {value!r}"
        )
    if not all(names):
        raise InvalidError("filters: has an empty name")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidError(f"filters: {repeated[0]} is listed twice")
    return tuple(names)


def _weights(value: object) -> Mapping[str, float]:
    if not isinstance(value, Mapping):
        raise InvalidError(f"weights: must map weigher names to multipliers, got {value!r}")
    merged = dict(DEFAULT_WEIGHTS)
    for name, multiplier in value.items():
        if not isinstance(name, str):
            raise InvalidError(f"weights: weigher names must be strings, got {name!r}")
        merged[name] = _number(f"weights: {name}", multiplier)
    return merged


def _strategy(value: object) -> Strategy:
    allowed = ", ".join(s.value for s in Strategy)
    if not isinstance(value, str):
        raise InvalidError(f"strategy: must be one of {allowed}, got {value!r}")
    try:
        return Strategy(value)
    except ValueError:
        raise InvalidError(f"strategy: must be one of {allowed}, got {value!r}") from None


def _positive_int(data: Mapping[object, object], key: str, default: int) -> int:
    if key not in data:
        return default
    value = data[key]
    # bool is an int to Python, never to an operator writing "max_attempts: yes"
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidError(f"{key}: must be an integer of at least 1, got {value!r}")
    return value


def _positive_number(data: Mapping[object, object], key: str, default: float) -> float:
    if key not in data:
        return default
    number = _number(key, data[key])
    if number <= 0:
        raise InvalidError(f"{key}: must be greater than 0, got {data[key]!r}")
    return number


def _number(label: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidError(f"{label}: must be a finite number, got {value!r}")
    return float(value)


def _zone(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ZONE_NAME:
        raise InvalidError(
            f"default_availability_zone: must be a name of 1 to {MAX_ZONE_NAME} characters, "
            f"got {value!r}"
        )
    if ":" in value:  # Nova refuses it too: "zone:host:node" is how a request forces a host
        raise InvalidError(f"default_availability_zone: must not contain ':', got {value!r}")
    return value


def _aliases(value: object) -> Mapping[str, PciAlias]:
    if not isinstance(value, list):
        raise InvalidError(f"pci_aliases: must be a list of alias entries, got {value!r}")
    for pos, entry in enumerate(value):
        if isinstance(entry, str):
            continue  # the JSON text of nova.conf's [pci] alias; parse_alias reads it
        if not isinstance(entry, Mapping) or not all(isinstance(k, str) for k in entry):
            raise InvalidError(
                f"pci_aliases[{pos}]: must be a mapping of alias keys (or its JSON text), "
                f"got {entry!r}"
            )
        for key in ("vendor_id", "product_id"):
            if isinstance(entry.get(key), int):
                # YAML reads 1234 as a number (and 0010 as octal 8): the id must be quoted.
                raise InvalidError(
                    f"pci_aliases[{pos}]: {key} must be 4 hexadecimal digits in quotes "
                    f"(YAML reads 1234 as a number), got the number {entry[key]!r}"
                )
    try:
        return parse_aliases(value)
    except InvalidError as exc:
        raise InvalidError(f"pci_aliases: {exc.message}") from None
