"""The hard group rules the claim re-checks under the group's lock (``violation``)."""

from __future__ import annotations

import pytest

from berth.model.server_group import (
    AFFINITY,
    ANTI_AFFINITY,
    SOFT_AFFINITY,
    SOFT_ANTI_AFFINITY,
    ServerGroup,
    violation,
)


def _group(policy: str, per_host: int | None = None) -> ServerGroup:
    return ServerGroup(1, "g-uuid", "g1", "p", "u", policy, per_host, 3, None, None)


def test_anti_affinity_allows_new_hosts_and_refuses_a_taken_one() -> None:
    group = _group(ANTI_AFFINITY)
    members = [("a", 10), ("b", 11), ("waiting", None)]
    assert violation(group, members, [("c", 12), ("d", 13)]) is None
    why = violation(group, members, [("c", 11)])
    assert why is not None and "allows 1 member(s) per host" in why and "[11]" in why
    # Two of the new instances on one host break it too, whatever the members.
    assert violation(group, [], [("c", 12), ("d", 12)]) is not None


def test_max_server_per_host() -> None:
    group = _group(ANTI_AFFINITY, per_host=2)
    assert violation(group, [("a", 10)], [("b", 10)]) is None
    assert violation(group, [("a", 10), ("b", 10)], [("c", 10)]) is not None


def test_a_member_placed_again_counts_where_it_goes() -> None:
    group = _group(ANTI_AFFINITY)
    # "a" moves from host 10 to host 11 (a rebuild): host 10 is free for "b".
    assert violation(group, [("a", 10)], [("a", 11), ("b", 10)]) is None


def test_affinity_needs_one_host() -> None:
    group = _group(AFFINITY)
    assert violation(group, [], [("a", 10), ("b", 10)]) is None
    assert violation(group, [("a", 10)], [("b", 10)]) is None
    why = violation(group, [("a", 10)], [("b", 11)])
    assert why is not None and "needs one host" in why


@pytest.mark.parametrize("policy", [SOFT_AFFINITY, SOFT_ANTI_AFFINITY])
def test_soft_policies_never_break(policy: str) -> None:
    group = _group(policy)
    assert violation(group, [("a", 10)], [("b", 10), ("c", 11)]) is None
