"""BuildFailureWeigher, IoOpsWeigher, NumInstancesWeigher: how busy or unreliable a host is.

* BuildFailureWeigher: hosts whose recent builds failed (reported through
  ``POST /berth/v1/hosts/{uuid}/build_results``) sink, by Nova's huge default multiplier,
  below every healthy host; a success resets the count.
* IoOpsWeigher: Nova counts instances being built, resized or snapshotted; berth counts
  instances claimed on the host within ``io_ops_window_s`` (``berth.db.host_load``) plus
  those this request already planned there, the operations about to start. With the
  default negative multiplier, fewer is better.
* NumInstancesWeigher: instances on the host plus this request's planned ones (off by
  default, as in Nova).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from berth.scheduler.hosts import FloatArray, Hosts
from berth.scheduler.protocols import Context


def _per_host(hosts: Hosts, counts: dict[int, int]) -> FloatArray:
    out = np.zeros(len(hosts), dtype=np.float64)
    for root, n in counts.items():
        pos = hosts.position(root)
        if pos is not None:
            out[pos] = n
    return out


class BuildFailureWeigher:
    name: ClassVar[str] = "BuildFailureWeigher"

    def weigh(self, hosts: Hosts, ctx: Context) -> FloatArray:
        return -_per_host(hosts, dict(ctx.facts.failures))


class IoOpsWeigher:
    name: ClassVar[str] = "IoOpsWeigher"

    def weigh(self, hosts: Hosts, ctx: Context) -> FloatArray:
        return _per_host(hosts, dict(ctx.facts.recent)) + _per_host(hosts, dict(ctx.planned))


class NumInstancesWeigher:
    name: ClassVar[str] = "NumInstancesWeigher"

    def weigh(self, hosts: Hosts, ctx: Context) -> FloatArray:
        return _per_host(hosts, dict(ctx.facts.instances)) + _per_host(hosts, dict(ctx.planned))
