"""Traits: standard (seeded from os-traits) and CUSTOM_* ones, and which providers have them.

Standard traits are never deleted (their names are shared with every service); a custom
trait can be deleted only while no provider carries it, so a provider's trait set never
silently loses a member.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, delete, exists, insert, select
from sqlalchemy.exc import IntegrityError

from berth.db import named, tables
from berth.db.named import NamedRow
from berth.model.errors import ConcurrentUpdate, ConflictError, InvalidError, NotFoundError

TRAITS = tables.traits
RP_TRAITS = tables.resource_provider_traits


TraitRow = NamedRow


def ids_by_name(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Map each known name to its id; unknown names are simply absent (callers decide)."""
    wanted = set(names)
    if not wanted:
        return {}
    rows = conn.execute(select(TRAITS.c.name, TRAITS.c.id).where(TRAITS.c.name.in_(wanted)))
    return {name: id_ for name, id_ in rows}


def list_traits(
    conn: Connection,
    *,
    names: Sequence[str] | None = None,
    prefix: str | None = None,
    associated: bool | None = None,
) -> list[TraitRow]:
    """Traits filtered by exact names, a name prefix and whether any provider has them."""
    query = named.columns(TRAITS).order_by(TRAITS.c.name)
    if names is not None:
        query = query.where(TRAITS.c.name.in_(list(names)))
    if prefix is not None:
        query = query.where(TRAITS.c.name.startswith(prefix, autoescape=True))
    if associated is not None:
        used = exists().where(RP_TRAITS.c.trait_id == TRAITS.c.id)
        query = query.where(used if associated else ~used)
    return named.rows(conn, query)


def get(conn: Connection, name: str) -> TraitRow:
    row = named.find(conn, TRAITS, name)
    if row is None:
        raise NotFoundError(f"No such trait(s): {name}")
    return row


def ensure(conn: Connection, name: str) -> bool:
    """Create ``name`` unless it exists; True when this call created it."""
    if ids_by_name(conn, [name]):
        return False
    try:
        with conn.begin_nested():
            conn.execute(insert(TRAITS).values(name=name, created_at=tables.now()))
    except IntegrityError:
        return False  # a concurrent PUT won the race: the trait exists either way
    return True


def delete_custom(conn: Connection, name: str) -> None:
    """Delete a custom trait; 404 when unknown, 409 while a provider still has it."""
    found = ids_by_name(conn, [name])
    if not found:
        raise NotFoundError(f"No such trait(s): {name}")
    trait_id = found[name]
    used = conn.execute(select(exists().where(RP_TRAITS.c.trait_id == trait_id))).scalar()
    if used:
        raise ConflictError(f"The trait {name} is in use by a resource provider.")
    try:
        with conn.begin_nested():
            conn.execute(delete(TRAITS).where(TRAITS.c.id == trait_id))
    except IntegrityError as exc:  # a provider picked it up concurrently
        raise ConflictError(f"The trait {name} is in use by a resource provider.") from exc


def provider_traits(conn: Connection, provider_id: int) -> list[TraitRow]:
    """The traits of one provider, by name."""
    query = (
        named.columns(TRAITS)
        .join(RP_TRAITS, RP_TRAITS.c.trait_id == TRAITS.c.id)
        .where(RP_TRAITS.c.resource_provider_id == provider_id)
        .order_by(TRAITS.c.name)
    )
    return named.rows(conn, query)


def traits_by_provider(conn: Connection, provider_ids: Iterable[int]) -> dict[int, set[str]]:
    """Trait names for many providers at once (providers without traits are absent)."""
    ids = list(set(provider_ids))
    out: dict[int, set[str]] = {}
    if not ids:
        return out
    rows = conn.execute(
        select(RP_TRAITS.c.resource_provider_id, TRAITS.c.name)
        .join(TRAITS, RP_TRAITS.c.trait_id == TRAITS.c.id)
        .where(RP_TRAITS.c.resource_provider_id.in_(ids))
    )
    for rp_id, name in rows:
        out.setdefault(rp_id, set()).add(name)
    return out


def set_provider_traits(conn: Connection, provider_id: int, names: Iterable[str]) -> None:
    """Replace a provider's trait set; 400 naming every unknown trait, nothing written."""
    wanted = set(names)
    found = ids_by_name(conn, wanted)
    missing = sorted(wanted - found.keys())
    if missing:
        raise InvalidError(f"No such trait(s): {', '.join(missing)}")
    have = {
        trait_id
        for (trait_id,) in conn.execute(
            select(RP_TRAITS.c.trait_id).where(RP_TRAITS.c.resource_provider_id == provider_id)
        )
    }
    target = set(found.values())
    gone = have - target
    if gone:
        conn.execute(
            delete(RP_TRAITS).where(
                RP_TRAITS.c.resource_provider_id == provider_id,
                RP_TRAITS.c.trait_id.in_(gone),
            )
        )
    added = target - have
    if added:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(RP_TRAITS),
                    [{"resource_provider_id": provider_id, "trait_id": t} for t in sorted(added)],
                )
        except IntegrityError as exc:  # a trait was deleted concurrently
            raise ConcurrentUpdate(
                "A trait changed concurrently. Please retry your update"
            ) from exc


def clear_provider_traits(conn: Connection, provider_id: int) -> None:
    conn.execute(delete(RP_TRAITS).where(RP_TRAITS.c.resource_provider_id == provider_id))
