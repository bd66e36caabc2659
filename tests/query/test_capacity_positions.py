"""``ClassTable.host_positions``: where each row's host is in a host list, remembered
for that list until the table's rows change (the scheduler sums a class per host for
every batch; a stale answer would put capacity on the wrong host)."""

from __future__ import annotations

import numpy as np

from berth.model.inventory import Inventory
from berth.query.capacity import ClassTable

INV = Inventory(8)


def _sums(table: ClassTable, hosts: np.ndarray) -> list[int]:
    where, ours = table.host_positions(hosts)
    return np.bincount(where, table.capacity[ours], len(hosts)).astype(int).tolist()


def test_positions_follow_the_rows_and_skip_hosts_not_listed() -> None:
    # Providers 1-4; 3 is a child of root 1; root 9 is not in the host list.
    table = ClassTable.build([(1, 1, INV, 0), (2, 2, INV, 0), (3, 1, INV, 0), (4, 9, INV, 0)])
    hosts = np.array([1, 2, 5], dtype=np.int64)
    assert _sums(table, hosts) == [16, 8, 0]
    assert table.host_positions(hosts)[0] is table.host_positions(hosts)[0]  # remembered
    table.remove([3])
    assert _sums(table, hosts) == [8, 8, 0]
    table.insert([(5, 5, Inventory(4), 0), (6, 2, INV, 0)])
    assert _sums(table, hosts) == [8, 16, 4]
    other = np.array([2, 9], dtype=np.int64)  # another list: computed for it
    assert _sums(table, other) == [16, 8]
    assert _sums(table, np.zeros(0, dtype=np.int64)) == []
