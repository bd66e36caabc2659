"""The allocation-candidate engine (GET /allocation_candidates).

One entry point: ``berth.query.candidates.find(cloud, request) -> CandidateResult``. It
reads a ``berth.model.cloud.Cloud`` snapshot (loaded by ``berth.db.snapshot``) and never
touches the database, so it can run on an in-process index just as well.

Modules: ``index`` (lookups over a snapshot), ``matching`` (which providers can serve
each request group, per anchor tree), ``combine`` (pruned, lazy search combining the
groups), ``summaries`` (provider summaries), ``candidates`` (the entry point).
"""
