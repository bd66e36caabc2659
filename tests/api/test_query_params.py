"""The shared query-string parsers: values and Placement's 400 wording."""

from __future__ import annotations

import pytest

from berth.api import query_params as qp
from berth.api.errors import BadRequest
from berth.model.filters import AggregateFilter, TraitFilter

U1 = "f918801a-5e54-4bee-9095-09a9d0c786b8"
U2 = "a893eb5c-e2a0-4251-ab26-f71d3b0cfc0b"
LATEST = (1, 39)


def test_parse_resources() -> None:
    assert qp.parse_resources("VCPU:2,MEMORY_MB:1024") == {"VCPU": 2, "MEMORY_MB": 1024}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Got: empty string."),
        (
            "VCPU",
            "Badly formed resources parameter. Expected resources query string parameter in "
            "form: ?resources=VCPU:2,MEMORY_MB:1024. Got: VCPU.",
        ),
        ("DISK_GB:500,", "Got: ."),
        ("VCPU:fred", "Requested resource VCPU expected positive integer amount. Got: fred."),
        ("VCPU:-2", "Requested resource VCPU requires amount >= 1. Got: -2."),
        ("VCPU:0", "requires amount >= 1"),
    ],
)
def test_parse_resources_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        qp.parse_resources(text)
    assert message in info.value.message


def test_parse_required() -> None:
    got = qp.parse_required(["A,!B", "in:C,D", "in:E"], LATEST)
    assert got == TraitFilter(
        required=frozenset({"A"}),
        forbidden=frozenset({"B"}),
        any_of=(frozenset({"C", "D"}), frozenset({"E"})),
    )
    assert got.matches({"A", "C", "E"})
    assert not got.matches({"A", "B", "C", "E"})
    assert not got.matches({"A", "E"})
    # before 1.39 the last parameter wins
    assert qp.parse_required(["A", "B"], (1, 38)) == TraitFilter(required=frozenset({"B"}))
    assert not qp.parse_required([], LATEST)


@pytest.mark.parametrize(
    ("values", "version", "message"),
    [
        (["!A"], (1, 21), "of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: !A"),
        ([""], LATEST, "of the form: HW_CPU_X86_VMX,!CUSTOM_MAGIC."),
        (["A,,B"], LATEST, "Invalid query string parameters: Expected 'required'"),
        (["!"], LATEST, "Expected 'required'"),
        (["in:A,B"], (1, 38), "The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported"),
        (["in:A,!B"], LATEST, "Expected 'required'"),
    ],
)
def test_parse_required_errors(values: list[str], version: tuple[int, int], message: str) -> None:
    with pytest.raises(BadRequest) as info:
        qp.parse_required(values, version)
    assert message in info.value.message


def test_parse_member_of() -> None:
    got = qp.parse_member_of([U1, f"in:{U1},{U2}", f"!{U2}"], LATEST)
    assert got == AggregateFilter(
        any_of=(frozenset({U1}), frozenset({U1, U2})), forbidden=frozenset({U2})
    )
    assert qp.parse_member_of([f"!in:{U1},{U2}"], LATEST).forbidden == {U1, U2}
    assert qp.parse_member_of([f"in:{U1},{U2}"], (1, 3)).any_of == (frozenset({U1, U2}),)


@pytest.mark.parametrize(
    ("values", "version", "message"),
    [
        ([U1, U2], (1, 23), "Multiple member_of parameters are not supported"),
        ([f"!{U1}"], (1, 31), "Forbidden member_of parameters are not supported"),
        (["!(^o^)"], LATEST, "Expected 'member_of' parameter to contain valid UUID(s)."),
        ([f"in:{U1},!{U2}"], LATEST, "valid UUID(s)"),
        (["in:"], LATEST, "valid UUID(s)"),
        ([f"{U1},{U2}"], LATEST, "must be prefixed with the 'in:' or '!in:' keyword"),
    ],
)
def test_parse_member_of_errors(values: list[str], version: tuple[int, int], message: str) -> None:
    with pytest.raises(BadRequest) as info:
        qp.parse_member_of(values, version)
    assert message in info.value.message


def test_parse_in_tree_and_keys() -> None:
    assert qp.parse_in_tree(U1.replace("-", "").upper()) == U1
    with pytest.raises(BadRequest):
        qp.parse_in_tree("nope")
    qp.check_keys(["name"], {"name", "uuid"})
    with pytest.raises(BadRequest) as info:
        qp.check_keys(["name", "spam"], {"name"})
    assert "Additional properties are not allowed ('spam' was unexpected)" in info.value.message
