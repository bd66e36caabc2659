"""An inventory record: how much of one resource class a provider offers, and in what units.

Placement keeps ``total`` and ``reserved`` apart and scales the remainder by
``allocation_ratio`` (overcommit), so what the scheduler may hand out is ``capacity``,
not ``total``. ``min_unit``/``max_unit``/``step_size`` constrain each single allocation.
"""

from __future__ import annotations

from dataclasses import dataclass

# Placement's ceiling for every integer inventory field (a signed 32-bit column).
MAX_INT = 2147483647


@dataclass(frozen=True, slots=True)
class Inventory:
    """One provider's inventory of one resource class (the class is the mapping key)."""

    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = MAX_INT
    step_size: int = 1
    allocation_ratio: float = 1.0

    @property
    def capacity(self) -> int:
        """What may be allocated in total: unreserved units times the overcommit ratio."""
        return int((self.total - self.reserved) * self.allocation_ratio)

    def as_dict(self) -> dict[str, int | float]:
        """The API representation (without the resource class, which is the key)."""
        return {
            "total": self.total,
            "reserved": self.reserved,
            "min_unit": self.min_unit,
            "max_unit": self.max_unit,
            "step_size": self.step_size,
            "allocation_ratio": self.allocation_ratio,
        }


def capacity_problem(
    resource_class: str, provider_uuid: str, inv: Inventory, *, reserved_may_equal_total: bool
) -> str | None:
    """Why ``inv`` is unusable, in Placement's words, or None when it is fine.

    Reserving everything became legal at microversion 1.26 (an operator taking a whole
    provider out of service); reserving more than exists never is.
    """
    if inv.reserved > inv.total or (inv.reserved == inv.total and not reserved_may_equal_total):
        comparison = "greater than" if reserved_may_equal_total else "greater than or equal to"
        return (
            f"Invalid inventory for '{resource_class}' on resource provider "
            f"'{provider_uuid}'. The reserved value is {comparison} total."
        )
    return None
