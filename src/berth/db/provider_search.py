"""GET /resource_providers filtering: one SQL query built from a ProviderQuery.

Each filter becomes an ``id IN (subquery)`` (or ``NOT IN``) condition on the providers
table, so filters compose by plain AND and the database does the work on its indexes.
The ``resources`` filter applies the same capacity rule as allocation: a provider
qualifies for ``amount`` of a class when it has that inventory, ``amount`` respects the
inventory's min_unit/max_unit/step_size, and ``used + amount <= (total - reserved) *
allocation_ratio``.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, Connection, Integer, false, func, literal, select

from berth.db import aggregates, providers, resource_classes, tables, traits
from berth.model.errors import InvalidError, NotFoundError
from berth.model.filters import AggregateFilter, ProviderQuery, TraitFilter
from berth.model.provider import Provider

RP = tables.resource_providers
INV = tables.inventories
ALLOC = tables.allocations
RPT = tables.resource_provider_traits
RPA = tables.resource_provider_aggregates


def search(conn: Connection, query: ProviderQuery) -> list[Provider]:
    """The providers matching every filter in ``query``, ordered by id.

    400 (InvalidError) for an unknown trait or resource class, as Placement answers.
    """
    conds: list[ColumnElement[bool]] = []
    if query.name is not None:
        conds.append(RP.c.name == query.name)
    if query.uuid is not None:
        conds.append(RP.c.uuid == query.uuid)
    if query.in_tree is not None:
        root = select(RP.c.root_provider_id).where(RP.c.uuid == query.in_tree).scalar_subquery()
        conds.append(RP.c.root_provider_id == root)
    if query.member_of:
        conds.extend(_aggregate_conditions(conn, query.member_of))
    if query.resources:
        conds.extend(_resource_conditions(conn, query.resources))
    if query.traits:
        conds.extend(_trait_conditions(conn, query.traits))
    stmt = providers.select_providers().where(*conds).order_by(RP.c.id)
    return [providers.to_provider(row) for row in conn.execute(stmt)]


def _members(aggregate_ids: set[int]) -> ColumnElement[bool]:
    return RP.c.id.in_(
        select(RPA.c.resource_provider_id).where(RPA.c.aggregate_id.in_(sorted(aggregate_ids)))
    )


def _aggregate_conditions(
    conn: Connection, member_of: AggregateFilter
) -> list[ColumnElement[bool]]:
    ids = aggregates.ids_by_uuid(conn, member_of.names)
    conds: list[ColumnElement[bool]] = []
    for group in member_of.any_of:
        known = {ids[u] for u in group if u in ids}
        # An aggregate nobody has joined has no members: the whole query matches nothing.
        conds.append(_members(known) if known else false())
    bad = {ids[u] for u in member_of.forbidden if u in ids}
    if bad:
        conds.append(~_members(bad))
    return conds


def _trait_conditions(conn: Connection, wanted: TraitFilter) -> list[ColumnElement[bool]]:
    ids = traits.ids_by_name(conn, wanted.names)
    missing = sorted(wanted.names - ids.keys())
    if missing:
        raise InvalidError(f"No such trait(s): {', '.join(missing)}.")

    def having(names: frozenset[str]) -> ColumnElement[bool]:
        return RP.c.id.in_(
            select(RPT.c.resource_provider_id).where(
                RPT.c.trait_id.in_(sorted(ids[n] for n in names))
            )
        )

    conds = [having(frozenset({name})) for name in sorted(wanted.required)]
    conds.extend(having(group) for group in wanted.any_of)
    if wanted.forbidden:
        conds.append(~having(wanted.forbidden))
    return conds


def _resource_conditions(conn: Connection, wanted: Mapping[str, int]) -> list[ColumnElement[bool]]:
    try:
        class_ids = resource_classes.ids_by_name(conn, wanted)
    except NotFoundError as exc:
        raise InvalidError(f"Invalid resource class in resources parameter: {exc.message}") from exc
    conds: list[ColumnElement[bool]] = []
    for name, amount in sorted(wanted.items()):
        rc_id = class_ids[name]
        usage = (
            select(
                ALLOC.c.resource_provider_id.label("rp_id"),
                func.sum(ALLOC.c.used).label("used"),
            )
            .where(ALLOC.c.resource_class_id == rc_id)
            .group_by(ALLOC.c.resource_provider_id)
            .subquery()
        )
        need = literal(amount, Integer)
        used = func.coalesce(usage.c.used, 0)
        fits = (
            select(INV.c.resource_provider_id)
            .select_from(INV.outerjoin(usage, usage.c.rp_id == INV.c.resource_provider_id))
            .where(
                INV.c.resource_class_id == rc_id,
                INV.c.min_unit <= need,
                INV.c.max_unit >= need,
                need % INV.c.step_size == 0,
                used + need <= (INV.c.total - INV.c.reserved) * INV.c.allocation_ratio,
            )
        )
        conds.append(RP.c.id.in_(fits))
    return conds
