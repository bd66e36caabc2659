"""Microversions: the versions berth speaks, and negotiating one per request.

Each version below gets a comment saying what it changed, as in Placement's own list, so
that a handler's ``if req.version >= (1, 28)`` can be read against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from berth.api.errors import BadRequest, NotAcceptable

SERVICE_TYPE = "placement"
HEADER = "OpenStack-API-Version"
LEGACY_HEADER = "X-OpenStack-Placement-API-Version"

VERSIONS = (
    "1.0",  # Initial version: providers, inventories, allocations, usages.
    "1.1",  # GET/PUT /resource_providers/{uuid}/aggregates.
    "1.2",  # Custom resource classes: /resource_classes.
    "1.3",  # member_of on GET /resource_providers.
    "1.4",  # resources on GET /resource_providers.
    "1.5",  # DELETE /resource_providers/{uuid}/inventories.
    "1.6",  # Traits: /traits and /resource_providers/{uuid}/traits.
    "1.7",  # PUT /resource_classes/{name} creates idempotently, no body.
    "1.8",  # project_id and user_id are required on PUT /allocations.
    "1.9",  # GET /usages?project_id=&user_id=.
    "1.10",  # GET /allocation_candidates.
    "1.11",  # 'allocations' link on resource providers.
    "1.12",  # PUT /allocations takes the dict format; candidates answer in it.
    "1.13",  # POST /allocations for many consumers at once.
    "1.14",  # Nested providers: parent/root uuids, in_tree.
    "1.15",  # last-modified and cache-control headers.
    "1.16",  # limit on GET /allocation_candidates.
    "1.17",  # required traits on GET /allocation_candidates.
    "1.18",  # required traits on GET /resource_providers.
    "1.19",  # Aggregates carry and require the provider generation.
    "1.20",  # POST /resource_providers answers 200 with the provider.
    "1.21",  # member_of on GET /allocation_candidates.
    "1.22",  # Forbidden traits (!TRAIT).
    "1.23",  # Error codes in error responses.
    "1.24",  # member_of may repeat (AND of ORs).
    "1.25",  # Granular request groups (resourcesN, requiredN, member_ofN, group_policy).
    "1.26",  # Inventory reserved may equal total.
    "1.27",  # provider_summaries list all of a provider's resource classes.
    "1.28",  # Consumer generations.
    "1.29",  # Nested providers in candidates; summaries carry parent/root.
    "1.30",  # POST /reshaper.
    "1.31",  # in_tree and in_treeN on GET /allocation_candidates.
    "1.32",  # Forbidden aggregates (member_of=!...).
    "1.33",  # Arbitrary request group suffixes.
    "1.34",  # Request group mappings in allocation requests.
    "1.35",  # root_required.
    "1.36",  # same_subtree.
    "1.37",  # Re-parenting and un-parenting providers.
    "1.38",  # Consumer types.
    "1.39",  # any-traits: required=in:A,B.
)


class Version(NamedTuple):
    """A microversion; compares with plain tuples, so ``version >= (1, 28)`` reads naturally."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Version:
        """``MAJOR.MINOR``, read as Placement reads it (``1.05`` is 1.5); 400 otherwise."""
        major, dot, minor = text.strip().partition(".")
        try:
            if not dot or "." in minor:
                raise ValueError(text)
            return cls(int(major), int(minor))
        except ValueError as exc:
            raise BadRequest(
                f"Invalid microversion: invalid version string: {text.strip()}"
            ) from exc

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


MIN_VERSION = Version.parse(VERSIONS[0])
MAX_VERSION = Version.parse(VERSIONS[-1])


def requested(headers: Mapping[str, str]) -> str | None:
    """The version asked for in ``OpenStack-API-Version``, or None.

    The header may name several services (``compute 2.1, placement 1.30``, or repeated
    headers folded with commas); the last ``placement`` entry wins, as in
    microversion-parse.
    """
    value = headers.get(HEADER.lower())
    if value is None:
        # Older clients sent X-OpenStack-Placement-API-Version; honour it when the
        # standard header is absent (the standard one always wins).
        legacy = headers.get(LEGACY_HEADER.lower())
        return legacy.strip() if legacy is not None else None
    for part in reversed(value.split(",")):
        words = part.strip().split(None, 1)
        if len(words) == 2 and words[0].lower() == SERVICE_TYPE:
            return words[1].strip()
    return None


def negotiate(headers: Mapping[str, str]) -> Version:
    """Pick the request's version from its headers; the minimum when none is asked for.

    Raises 400 for a malformed version and 406 for one Placement does not have; the 406
    names the supported range so the client can retry with one of them.
    """
    text = requested(headers)
    if text is None:
        return MIN_VERSION
    if text == "latest":
        return MAX_VERSION
    version = Version.parse(text)
    if str(version) not in VERSIONS:
        raise NotAcceptable(
            f"Invalid microversion: Unacceptable version header: {text}",
            extra={"max_version": str(MAX_VERSION), "min_version": str(MIN_VERSION)},
        )
    return version
