"""Fuzzing the whole API in-process: thousands of odd requests, never a 500.

Hypothesis generates requests against every route and method at random microversions,
with bodies of the right shape (then mutated: wrong types, huge and negative numbers,
missing and unknown keys), random JSON, non-JSON and non-UTF-8 bodies, random query
strings (unicode, huge numbers, malformed filters) and random Content-Type/Accept headers.
Every response must be below 500, and every error must be in Placement's error format.

The app runs on SQLite only (engine behaviour is covered by the other tests); the run is
derandomized so the default suite is reproducible. ``BERTH_FUZZ_EXAMPLES`` scales it and
``BERTH_FUZZ_RANDOM=1`` explores new inputs on each run.
"""

from __future__ import annotations

import json
import os
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from api.rawwsgi import RawResponse, call
from berth.api import accept as accept_negotiation
from berth.api.app import PlacementApp
from berth.api.microversion import VERSIONS
from berth.api.routes import ROUTES
from berth.api.state import ApiConfig
from berth.server import build_app

EXAMPLES = int(os.environ.get("BERTH_FUZZ_EXAMPLES", "5200"))
MIN_REQUESTS = 5000

RP1, RP2, CHILD = (str(uuid.UUID(int=i)) for i in (101, 102, 103))
CONSUMER, CONSUMER2 = str(uuid.UUID(int=201)), str(uuid.UUID(int=202))
AGG = str(uuid.UUID(int=301))
PROJECT, USER = "proj-fuzz", "user-fuzz"
STD_CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB", "SRIOV_NET_VF")
CUSTOM_CLASS, CUSTOM_TRAIT = "CUSTOM_FUZZ", "CUSTOM_FUZZ_TRAIT"
STD_TRAITS = ("HW_CPU_X86_AVX", "HW_CPU_X86_SSE", "MISC_SHARES_VIA_AGGREGATE")
METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS")


@dataclass
class FuzzRequest:
    method: str
    path: bytes
    query: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_length: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.method} {self.path!r}?{self.query!r} headers={self.headers} "
            f"body={self.body[:300]!r} content_length={self.content_length}"
        )


# -- value strategies ----------------------------------------------------------------

huge_ints = st.sampled_from([2**31, 2**31 - 1, 2**32, 2**63, 2**63 - 1, 2**64, 10**30, -(2**63)])
small_ints = st.integers(min_value=-5, max_value=2048)
numbers = st.one_of(
    small_ints,  # plausible values dominate, so requests get past validation into handlers
    small_ints,
    small_ints,
    huge_ints,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, -1, 0.5, 1e308, -1e-308]),
)
texts = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=string.ascii_uppercase + "_", min_size=1, max_size=20),
    st.sampled_from(["", " ", "\x00", "\N{SNOWMAN}", "a" * 300, "CUSTOM_\N{SNOWMAN}", "None"]),
)
known_uuids = st.sampled_from([RP1, RP2, CHILD, CONSUMER, CONSUMER2, AGG])
uuids = st.one_of(
    known_uuids,  # existing objects dominate, so requests reach them
    known_uuids,
    known_uuids,
    st.uuids().map(str),
    st.uuids().map(lambda u: u.hex),
    texts,
)
class_names = st.one_of(
    st.sampled_from([*STD_CLASSES, CUSTOM_CLASS, "CUSTOM_NEW", "VCPU2", "custom_lower"]),
    texts,
)
trait_names = st.one_of(
    st.sampled_from([*STD_TRAITS, CUSTOM_TRAIT, "CUSTOM_OTHER", "!HW_CPU_X86_AVX"]), texts
)
json_scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
any_json = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def _fields(draw: st.DrawFn, required: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in required.items():
        roll = draw(st.integers(0, 9))
        if roll == 0:
            continue  # dropped
        out[key] = draw(any_json) if roll == 1 else draw(value)
    if draw(st.integers(0, 9)) == 0:
        out[draw(texts)] = draw(any_json)  # a stranger
    return out


def fields(required: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with these keys, each possibly dropped or mutated, maybe with a stranger."""
    return _fields(required)


inventory = fields(
    {
        "total": numbers,
        "reserved": numbers,
        "min_unit": numbers,
        "max_unit": numbers,
        "step_size": numbers,
        "allocation_ratio": numbers,
        "resource_provider_generation": numbers,
        "resource_class": class_names,
    }
)
resources = st.dictionaries(class_names, numbers, max_size=3)
allocations_dict = st.dictionaries(uuids, fields({"resources": resources}), max_size=3)
allocations_list = st.lists(
    fields({"resource_provider": fields({"uuid": uuids}), "resources": resources}), max_size=3
)
consumer = fields(
    {
        "allocations": st.one_of(allocations_dict, allocations_list),
        "project_id": texts,
        "user_id": texts,
        "consumer_generation": st.one_of(st.none(), numbers),
        "consumer_type": texts,
        "mappings": st.dictionaries(texts, st.lists(uuids, max_size=2), max_size=2),
    }
)
generation = st.one_of(st.integers(min_value=0, max_value=20), numbers)

BODIES: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("POST", "/resource_providers"): fields(
        {"name": texts, "uuid": uuids, "parent_provider_uuid": st.one_of(st.none(), uuids)}
    ),
    ("PUT", "/resource_providers/{uuid}"): fields(
        {"name": texts, "parent_provider_uuid": st.one_of(st.none(), uuids)}
    ),
    ("POST", "/resource_providers/{uuid}/inventories"): inventory,
    ("PUT", "/resource_providers/{uuid}/inventories"): fields(
        {
            "resource_provider_generation": generation,
            "inventories": st.dictionaries(class_names, inventory, max_size=3),
        }
    ),
    ("PUT", "/resource_providers/{uuid}/inventories/{resource_class}"): inventory,
    ("PUT", "/resource_providers/{uuid}/aggregates"): st.one_of(
        st.lists(uuids, max_size=3),
        fields(
            {"aggregates": st.lists(uuids, max_size=3), "resource_provider_generation": generation}
        ),
    ),
    ("PUT", "/resource_providers/{uuid}/traits"): fields(
        {"traits": st.lists(trait_names, max_size=4), "resource_provider_generation": generation}
    ),
    ("POST", "/resource_classes"): fields({"name": class_names}),
    ("PUT", "/resource_classes/{name}"): fields({"name": class_names}),
    ("PUT", "/allocations/{consumer_uuid}"): consumer,
    ("POST", "/allocations"): st.dictionaries(uuids, consumer, max_size=3),
    ("POST", "/reshaper"): fields(
        {
            "inventories": st.dictionaries(
                uuids,
                fields(
                    {
                        "resource_provider_generation": generation,
                        "inventories": st.dictionaries(class_names, inventory, max_size=2),
                    }
                ),
                max_size=2,
            ),
            "allocations": st.dictionaries(uuids, consumer, max_size=2),
        }
    ),
}

# -- query strings -------------------------------------------------------------------

resources_param = st.one_of(
    st.lists(
        st.tuples(class_names, numbers).map(lambda t: f"{t[0]}:{t[1]}"), min_size=1, max_size=3
    ).map(",".join),
    st.sampled_from(["VCPU:1,MEMORY_MB:1024", "VCPU", "VCPU:", ":1", "VCPU:1,VCPU:2", ""]),
)
trait_param = st.one_of(
    st.lists(trait_names, min_size=1, max_size=3).map(",".join),
    st.lists(trait_names, min_size=1, max_size=3).map(lambda t: "in:" + ",".join(t)),
)
member_of_param = st.one_of(
    st.lists(uuids, min_size=1, max_size=3).map(lambda u: "in:" + ",".join(u)),
    uuids.map(lambda u: "!" + u),
    st.lists(uuids, min_size=1, max_size=2).map(lambda u: "!in:" + ",".join(u)),
    uuids,
)
param_values = {
    "resources": resources_param,
    "required": trait_param,
    "root_required": trait_param,
    "member_of": member_of_param,
    "in_tree": uuids,
    "name": st.one_of(texts, texts.map(lambda t: "startswith:" + t), trait_param),
    "uuid": uuids,
    "limit": st.one_of(numbers.map(str), texts),
    "group_policy": st.sampled_from(["none", "isolate", "bogus", ""]),
    "same_subtree": st.lists(texts, max_size=3).map(",".join),
    "project_id": texts,
    "user_id": texts,
    "consumer_type": texts,
    "associated": st.sampled_from(["true", "false", "yes", ""]),
}
suffixes = st.sampled_from(["", "", "1", "2", "_NET", "_\N{SNOWMAN}", "99999999999999999999"])
PARAM_NAMES = sorted(param_values)


@st.composite
def query_pairs(draw: st.DrawFn) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 4)) == 0:
            pairs.append((draw(texts), draw(texts)))
            continue
        name = draw(st.sampled_from(PARAM_NAMES))
        pairs.append((name + draw(suffixes), draw(param_values[name])))
    return pairs


def _encode_query(pairs: list[tuple[str, str]]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode("ascii")


odd_queries = st.one_of(
    st.binary(max_size=20),  # raw bytes, possibly not UTF-8
    st.sampled_from([b"name=%ff%fe", b"limit=" + b"9" * 5000, b"&&&=", b"%", b"a=%zz"]),
)

# -- paths, headers, bodies ----------------------------------------------------------

PLACEHOLDERS: dict[str, st.SearchStrategy[str]] = {
    "uuid": uuids,
    "consumer_uuid": uuids,
    "resource_class": class_names,
    "name": st.one_of(class_names, trait_names),
}


TEMPLATES = sorted(ROUTES)


@st.composite
def paths(draw: st.DrawFn) -> tuple[str, bytes]:
    """A route template and a path for it (rarely, one that is not UTF-8)."""
    template = draw(st.sampled_from(TEMPLATES))
    if draw(st.integers(0, 49)) == 0:
        return template, template.encode().replace(b"{", b"\xff")
    parts = []
    for part in template.split("/"):
        if part.startswith("{"):
            part = draw(PLACEHOLDERS[part[1:-1]]).replace("/", "%2F").replace("\x00", "")
        parts.append(part)
    return template, "/".join(parts).encode("utf-8", errors="surrogatepass")


VERSION_NAMES = [*VERSIONS, "latest", "latest"]
ODD_VERSIONS = ["1.99", "0.9", "2.0", "1.", "abc", "1.1.1", " 1.10 ", "LATEST", "1.0" * 3000]
ODD_CONTENT_TYPES = ["text/plain", "application/xml", "", "application/json;;", "\N{SNOWMAN}"]
ODD_ACCEPTS = [
    "*/*",
    "text/html",
    "text/plain",
    "application/xml",
    "application/json;q=0",
    "text/html,application/xhtml+xml,*/*;q=0.8",
    "garbage;;;",
    "",
]
ODD_TOKENS = ["user", "user:proj", None]


def _rare(draw: st.DrawFn, one_in: int) -> bool:
    return draw(st.integers(1, one_in)) == 1


@st.composite
def fuzz_requests(draw: st.DrawFn) -> FuzzRequest:
    """One request; mostly plausible (so handlers run deep), sometimes odd at every layer."""
    template, path = draw(paths())
    declared = [r.method for r in ROUTES[template]]
    method = draw(st.sampled_from(METHODS if _rare(draw, 8) else declared))
    headers: dict[str, str] = {}
    token = draw(st.sampled_from(ODD_TOKENS)) if _rare(draw, 10) else "admin"
    if token is not None:
        headers["X-Auth-Token"] = token
    if not _rare(draw, 10):
        odd = _rare(draw, 12)
        version = draw(st.sampled_from(ODD_VERSIONS if odd else VERSION_NAMES))
        headers["OpenStack-API-Version"] = f"placement {version}"
    if _rare(draw, 6):
        headers["Accept"] = draw(st.sampled_from(ODD_ACCEPTS))
    elif draw(st.booleans()):
        headers["Accept"] = "application/json"
    if _rare(draw, 10):
        headers["Content-Type"] = draw(st.sampled_from(ODD_CONTENT_TYPES))
    elif not _rare(draw, 15):
        headers["Content-Type"] = "application/json"
    shape = BODIES.get((method, template))
    roll = draw(st.integers(0, 9))
    body = b""
    if roll < 7 and shape is not None:
        body = json.dumps(draw(shape), allow_nan=False).encode("utf-8", errors="surrogatepass")
    elif roll < 9 and method in ("PUT", "POST", "PATCH"):
        body = json.dumps(draw(any_json)).encode("utf-8", errors="surrogatepass")
    elif roll == 9:
        body = draw(st.one_of(st.binary(max_size=50), st.sampled_from([b"{", b"NaN", b"\xff"])))
    length = draw(st.sampled_from(["abc", "-1", "99999999999"])) if _rare(draw, 40) else None
    query = draw(odd_queries) if _rare(draw, 15) else _encode_query(draw(query_pairs()))
    return FuzzRequest(method, path, query, headers, body, length)


# -- checks --------------------------------------------------------------------------


def _version_of(resp: RawResponse) -> tuple[int, int] | None:
    value = resp.header("openstack-api-version")
    if value is None:
        return None
    major, minor = value.split()[1].split(".")
    return int(major), int(minor)


def problems(req: FuzzRequest, resp: RawResponse) -> list[str]:
    """What is wrong with ``resp`` (empty when it is a proper answer)."""
    found: list[str] = []
    if resp.status >= 500:
        found.append(f"status {resp.status}")
    request_id = resp.header("x-openstack-request-id")
    if not request_id:
        found.append("no x-openstack-request-id")
    ctype = resp.header("content-type") or ""
    if resp.status == 204:
        if resp.body:
            found.append("204 with a body")
        return found
    if resp.status < 400:
        if ctype.startswith("application/json"):
            json.loads(resp.body)
        return found
    media = accept_negotiation.error_format(req.headers.get("Accept"))
    if not ctype.startswith(media):
        found.append(f"error content-type {ctype!r}, expected {media}")
        return found
    if media != "application/json":
        if str(resp.status) not in resp.body.decode("utf-8", "replace"):
            found.append("error page without its status")
        return found
    try:
        doc = json.loads(resp.body)
        (error,) = doc["errors"]
        assert set(doc) == {"errors"}
        assert error["status"] == resp.status
        assert isinstance(error["title"], str) and error["title"]
        assert isinstance(error["detail"], str)
        assert error["request_id"] == request_id
        version = _version_of(resp)
        if version is not None and version >= (1, 23):
            assert str(error["code"]).startswith("placement.")
    except (ValueError, KeyError, TypeError, AssertionError) as exc:
        found.append(f"not Placement's error format ({exc!r}): {resp.body[:200]!r}")
    return found


# -- the run -------------------------------------------------------------------------


def _seed(app: PlacementApp) -> None:
    """A small world for the fuzzer to poke at: providers, classes, traits, allocations."""
    admin = {"X-Auth-Token": "admin", "Content-Type": "application/json"}

    def send(method: str, path: str, version: str, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        call(app, method, path, headers={**admin, "OpenStack-API-Version": f"placement {version}"},
             body=data)  # fmt: skip

    for name, rp, parent in (("rp1", RP1, None), ("rp2", RP2, None), ("child", CHILD, RP1)):
        send("POST", "/resource_providers", "1.14",
             {"name": name, "uuid": rp, "parent_provider_uuid": parent})  # fmt: skip
    send("PUT", f"/resource_providers/{RP1}/aggregates", "1.1", [AGG])
    send("PUT", f"/resource_classes/{CUSTOM_CLASS}", "1.7")
    send("PUT", f"/traits/{CUSTOM_TRAIT}", "1.6")
    for rp in (RP1, RP2):
        send("PUT", f"/resource_providers/{rp}/inventories", "1.14",
             {"resource_provider_generation": 0,
              "inventories": {"VCPU": {"total": 16}, "MEMORY_MB": {"total": 4096},
                              CUSTOM_CLASS: {"total": 4}}})  # fmt: skip
    traits = {"traits": [CUSTOM_TRAIT, "HW_CPU_X86_AVX"], "resource_provider_generation": 1}
    send("PUT", f"/resource_providers/{RP1}/traits", "1.6", traits)
    send("PUT", f"/allocations/{CONSUMER}", "1.28",
         {"allocations": {RP1: {"resources": {"VCPU": 2}}}, "project_id": PROJECT,
          "user_id": USER, "consumer_generation": None})  # fmt: skip


@pytest.fixture
def fuzz_app(tmp_path: Path) -> Iterator[PlacementApp]:
    application = build_app(f"sqlite:///{tmp_path / 'fuzz.sqlite'}", ApiConfig())
    _seed(application)
    yield application
    application.state.store.dispose()


@pytest.mark.slow
def test_fuzz_never_500_and_errors_are_placement_format(fuzz_app: PlacementApp) -> None:
    failures: dict[str, str] = {}
    statuses: dict[int, int] = {}
    sent = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=os.environ.get("BERTH_FUZZ_RANDOM") != "1",
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(fuzz_requests())
    def run(req: FuzzRequest) -> None:
        nonlocal sent
        resp = call(
            fuzz_app,
            req.method,
            req.path,
            query=req.query,
            headers=req.headers,
            body=req.body,
            content_length=req.content_length,
        )
        sent += 1
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
        for problem in problems(req, resp):
            # One reproducer per kind of problem and route keeps the report readable.
            key = f"{problem.split(':')[0]} @ {req.method} {req.path.split(b'/')[1:2]}"
            failures.setdefault(key, f"{problem}\n    {req}")

    run()
    print(f"fuzz: {sent} requests, statuses {sorted(statuses.items())}")
    assert sent >= min(MIN_REQUESTS, EXAMPLES)
    assert not failures, "\n".join(f"{k}: {v}" for k, v in sorted(failures.items()))


# -- edge values, exhaustively -------------------------------------------------------
# Random search rarely combines a valid request with one absurd value deep inside it, so
# every leaf of a valid body and every query parameter also gets each nasty value in turn.

NASTY_JSON: list[Any] = [
    *(2**31, 2**63, -(2**63) - 1, 10**30, -1, 0, 1.5, 1e308, -1e308),
    *("1", "", None, True, [], {}, "\N{SNOWMAN}", "a" * 1000),
]
NASTY_QUERY = [
    *("9" * 5000, "9" * 30, "-1", "0", "1e400", "NaN", "\N{SNOWMAN}", "", ",", ":", "!"),
    *("in:", "!in:", "in:,", "startswith:", "VCPU:9999999999999999999999", "VCPU:1,VCPU:1"),
    *("CUSTOM_\N{SNOWMAN}:1", "1.5", " ", "true"),
]
NASTY_KEYS = ["", "\N{SNOWMAN}", "VCPU", "CUSTOM_X", "9" * 40, str(uuid.UUID(int=0)), "a" * 300]
QUERY_NAMES = [*sorted(param_values), "resources1", "required_X", "member_of1", "in_tree1"]


def _valid_bodies() -> list[tuple[str, str, str, Any]]:
    """(method, path, version, body) for a well-formed request to every body-taking route."""
    inv = {"total": 10, "reserved": 0, "min_unit": 1, "max_unit": 10, "step_size": 1,
           "allocation_ratio": 1.0}  # fmt: skip
    alloc = {"allocations": {RP1: {"resources": {"VCPU": 1}}}, "project_id": "p",
             "user_id": "u", "consumer_generation": 1}  # fmt: skip
    typed = {**alloc, "consumer_type": "INSTANCE"}
    rp2 = f"/resource_providers/{RP2}"
    return [
        ("POST", "/resource_providers", "1.14",
         {"name": "n1", "uuid": str(uuid.UUID(int=555)), "parent_provider_uuid": RP1}),
        ("PUT", rp2, "1.37", {"name": "n2", "parent_provider_uuid": RP1}),
        ("POST", f"{rp2}/inventories", "1.14",
         {"resource_class": "DISK_GB", "resource_provider_generation": 1, **inv}),
        ("PUT", f"{rp2}/inventories", "1.14",
         {"resource_provider_generation": 1, "inventories": {"VCPU": inv}}),
        ("PUT", f"{rp2}/inventories/VCPU", "1.14", {"resource_provider_generation": 1, **inv}),
        ("PUT", f"{rp2}/aggregates", "1.19",
         {"aggregates": [AGG], "resource_provider_generation": 1}),
        ("PUT", f"{rp2}/traits", "1.6",
         {"traits": ["HW_CPU_X86_AVX"], "resource_provider_generation": 1}),
        ("POST", "/resource_classes", "1.2", {"name": "CUSTOM_A"}),
        ("PUT", f"/resource_classes/{CUSTOM_CLASS}", "1.2", {"name": "CUSTOM_B"}),
        ("PUT", f"/allocations/{CONSUMER}", "1.0",
         {"allocations": [{"resource_provider": {"uuid": RP1}, "resources": {"VCPU": 1}}]}),
        ("PUT", f"/allocations/{CONSUMER}", "1.12",
         {"allocations": alloc["allocations"], "project_id": "p", "user_id": "u"}),
        ("PUT", f"/allocations/{CONSUMER}", "1.28", alloc),
        ("PUT", f"/allocations/{CONSUMER}", "1.38", typed),
        ("POST", "/allocations", "1.28", {CONSUMER: alloc}),
        ("POST", "/allocations", "1.38", {CONSUMER: typed}),
        ("POST", "/reshaper", "1.30",
         {"inventories": {RP1: {"resource_provider_generation": 1, "inventories": {"VCPU": inv}}},
          "allocations": {CONSUMER: alloc}}),
        ("POST", "/reshaper", "1.38",
         {"inventories": {RP1: {"resource_provider_generation": 1, "inventories": {"VCPU": inv}}},
          "allocations": {CONSUMER: typed}}),
    ]  # fmt: skip


def _leaf_paths(doc: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaf_paths(v, (*at, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _leaf_paths(v, (*at, i))
    yield at


def _variants(doc: Any) -> Iterator[Any]:
    """``doc`` with each value (leaf or not) replaced by each nasty value, and each key renamed."""
    for at in _leaf_paths(doc):
        for value in NASTY_JSON:
            if not at:
                yield value
                continue
            copy = json.loads(json.dumps(doc))
            parent = copy
            for step in at[:-1]:
                parent = parent[step]
            parent[at[-1]] = value
            yield copy
        for key in NASTY_KEYS:
            copy = json.loads(json.dumps(doc))
            parent = copy
            for step in at:
                parent = parent[step]
            if isinstance(parent, dict) and parent:
                first = next(iter(parent))
                parent[key] = parent.pop(first)
                yield copy


def _edge_requests() -> Iterator[FuzzRequest]:
    admin = {"X-Auth-Token": "admin", "Content-Type": "application/json"}
    for method, path, version, doc in _valid_bodies():
        headers = {**admin, "OpenStack-API-Version": f"placement {version}"}
        for body in _variants(doc):
            yield FuzzRequest(method, path.encode(), b"", headers, json.dumps(body).encode())
    for template, declared in ROUTES.items():
        if not any(r.method == "GET" for r in declared):
            continue
        path = template.format(
            uuid=RP1, consumer_uuid=CONSUMER, resource_class="VCPU", name=CUSTOM_TRAIT
        ).encode()
        for version in ("1.10", "latest"):
            headers = {**admin, "OpenStack-API-Version": f"placement {version}"}
            for name in QUERY_NAMES:
                for value in NASTY_QUERY:
                    query = _encode_query([(name, value)])
                    yield FuzzRequest("GET", path, query, headers)


@pytest.mark.slow
def test_edge_values_never_500(fuzz_app: PlacementApp) -> None:
    failures: dict[str, str] = {}
    for req in _edge_requests():
        resp = call(fuzz_app, req.method, req.path, query=req.query, headers=req.headers,
                    body=req.body)  # fmt: skip
        for problem in problems(req, resp):
            key = f"{problem.split(':')[0]} @ {req.method} {req.path.split(b'/')[1:2]}"
            failures.setdefault(key, f"{problem}\n    {req}")
    assert not failures, "\n".join(f"{k}: {v}" for k, v in sorted(failures.items()))
