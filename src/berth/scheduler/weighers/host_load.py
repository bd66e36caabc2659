"""BuildFailureWeigher, IoOpsWeigher, NumInstancesWeigher: how busy or unreliable a host is.

* BuildFailureWeigher: hosts whose recent builds failed (reported through
  ``POST /berth/v1/hosts/{uuid}/build_results``) sink, by Nova's huge default multiplier,
  below every healthy host; a success resets the count.
* IoOpsWeigher: Nova counts instances being built, resized or snapshotted; berth counts
  instances claimed on the host within ``io_ops_window_s`` (``berth.query.activity``) plus
  those this request already planned there, the operations about to start. With the
  default negative multiplier, fewer is better.
* NumInstancesWeigher: instances on the host plus this request's planned ones (off by
  default, as in Nova).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from berth.scheduler.hosts import FloatArray, Hosts
from berth.scheduler.protocols import Context


def _per_host(hosts: Hosts, counts: Mapping[int, int]) -> FloatArray:
    """``counts`` (root -> n, absent is 0) as a column over ``hosts``."""
    out = np.zeros(len(hosts), dtype=np.float64)
    if not counts or not len(hosts):
        return out
    roots = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    pos = np.minimum(np.searchsorted(hosts.roots, roots), len(hosts) - 1)
    ours = hosts.roots[pos] == roots
    out[pos[ours]] = values[ours]
    return out


class BuildFailureWeigher:
    name: ClassVar[str] = "BuildFailureWeigher"
    reads_group: ClassVar[bool] = False

    def weigh(self, hosts: Hosts, ctx: Context) -> FloatArray:
        return -ctx.facts.failures.column(hosts.roots)


class IoOpsWeigher:
    name: ClassVar[str] = "IoOpsWeigher"
    reads_group: ClassVar[bool] = False

    def weigh(self, hosts: Hosts, ctx: Context) -> FloatArray:
        return ctx.facts.recent.column(hosts.roots) + _per_host(hosts, ctx.planned)


class NumInstancesWeigher:
    name: ClassVar[str] = "NumInstancesWeigher"
    reads_group: ClassVar[bool] = False

    def weigh(self, hosts: Hosts, ctx: Context) -> FloatArray:
        return ctx.facts.instances.column(hosts.roots) + _per_host(hosts, ctx.planned)
