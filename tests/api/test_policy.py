"""Policy: Placement's rule names, legacy and secure defaults, policy files, noauth.

The expected decisions are those of Placement's ``*-secure-rbac.yaml`` and
``*-legacy-rbac.yaml`` API tests, checked here for every rule at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from berth.api.auth import noauth_context
from berth.api.errors import Forbidden, Unauthorized
from berth.api.http import Context, Request
from berth.api.policy import Enforcer, PolicyFileError, load_policy_file
from berth.api.policy_defaults import OPERATION_DEFAULTS, RULE_NAMES
from berth.api.policy_rules import RuleSyntaxError, parse
from berth.api.state import ApiConfig
from berth.cli.main import main as cli
from berth.server import build_app
from conftest import make_client

PROJECT = "6f1b4d3a2c5e4f7a8b9c0d1e2f3a4b5c"
OTHER = "0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"

PERSONAS = {
    "admin": Context("u", "admin_project_id", frozenset({"admin"})),
    "service": Context("u", "service_project_id", frozenset({"service"})),
    "system_admin": Context("u", None, frozenset({"admin", "member", "reader"}), "all"),
    "system_reader": Context("u", None, frozenset({"reader"}), "all"),
    "project_admin": Context("u", PROJECT, frozenset({"admin", "member", "reader"})),
    "project_member": Context("u", PROJECT, frozenset({"member", "reader"})),
    "project_reader": Context("u", PROJECT, frozenset({"reader"})),
    "no_roles": Context("u", PROJECT, frozenset()),
}

SECURE_ALLOWED = {
    "admin_or_service": {"admin", "service", "project_admin"},
    "placement:reshaper:reshape": {"service"},
    "placement:usages": {"admin", "service", "project_admin", "project_member", "project_reader"},
}
LEGACY_ALLOWED = {
    "admin_or_service": {"admin", "service", "project_admin"},
    "placement:reshaper:reshape": {"admin", "service", "project_admin"},
    "placement:usages": {"admin", "service", "project_admin", "project_member", "project_reader"},
}


def _allowed(table: dict[str, set[str]], rule: str) -> set[str]:
    return table.get(rule, table["admin_or_service"])


@pytest.mark.parametrize("mode", ["secure", "legacy"])
@pytest.mark.parametrize("rule", sorted(OPERATION_DEFAULTS))
def test_default_decisions(mode: str, rule: str) -> None:
    enforcer = Enforcer(mode)
    table = SECURE_ALLOWED if mode == "secure" else LEGACY_ALLOWED
    target = {"project_id": PROJECT}
    got = {name for name, ctx in PERSONAS.items() if enforcer.allowed(ctx, rule, target)}
    assert got == _allowed(table, rule)


@pytest.mark.parametrize("mode", ["secure", "legacy"])
def test_usages_of_another_project_need_admin_or_service(mode: str) -> None:
    enforcer = Enforcer(mode)
    target = {"project_id": OTHER}
    got = {n for n, ctx in PERSONAS.items() if enforcer.allowed(ctx, "placement:usages", target)}
    assert got == {"admin", "service", "project_admin"}


def test_target_defaults_to_the_callers_project() -> None:
    reader = PERSONAS["project_reader"]
    assert Enforcer("secure").allowed(reader, "placement:usages")


def test_unknown_rule_denies() -> None:
    assert not Enforcer().allowed(PERSONAS["admin"], "placement:no_such_rule")


def test_authorize_raises_403() -> None:
    with pytest.raises(Forbidden, match="placement:traits:list") as info:
        Enforcer("secure").authorize(PERSONAS["project_member"], "placement:traits:list")
    assert info.value.status == 403


def test_rule_names_are_placements() -> None:
    assert "placement:allocations:manage" in RULE_NAMES
    assert "placement:resource_providers:allocations:list" in RULE_NAMES
    assert "admin_api" in RULE_NAMES
    assert all(name.startswith("placement:") for name in OPERATION_DEFAULTS)


# -- rule language -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("@", True),
        ("!", False),
        ("", True),
        ("role:ADMIN", True),
        ("role:reader", False),
        ("not role:reader", True),
        ("(role:admin)", True),
        ("((role:reader or role:admin)) and project_id:%(project_id)s", True),
        ("project_id:%(project_id)s and not (role:reader)", True),
        ("project_id:%(owner)s", False),  # a missing target key fails the check
        ("user_id:'u'", True),
        ("is_admin:True", True),
        ("rule:admin_api or rule:service_api", True),
    ],
)
def test_rule_language(rule: str, expected: bool) -> None:
    enforcer = Enforcer("secure", {"custom": rule})
    assert enforcer.allowed(Context("u", "p", frozenset({"admin"})), "custom") is expected


@pytest.mark.parametrize("rule", ["(role:admin", "role:admin)", "role:admin and", "justaword"])
def test_rule_syntax_errors(rule: str) -> None:
    with pytest.raises(RuleSyntaxError):
        parse(rule)


def test_reference_cycles_are_refused() -> None:
    with pytest.raises(PolicyFileError, match="cycle"):
        Enforcer("legacy", {"a": "rule:b", "b": "role:x or rule:a"})


# -- policy files --------------------------------------------------------------------


def test_policy_file_yaml_and_json(tmp_path: Path) -> None:
    yml = tmp_path / "policy.yaml"
    yml.write_text('"placement:traits:list": "role:member"\n# comment\nadmin_api: "!"\n')
    js = tmp_path / "policy.json"
    js.write_text(json.dumps({"placement:traits:list": "role:member"}))
    for path in (yml, js):
        rules = load_policy_file(path)
        enforcer = Enforcer("secure", rules)
        assert enforcer.allowed(PERSONAS["project_member"], "placement:traits:list")
        # An override replaces the default; it is not OR-ed with it.
        assert not enforcer.allowed(PERSONAS["admin"], "placement:traits:list")
    assert load_policy_file(yml)["admin_api"] == "!"


def test_empty_policy_file(tmp_path: Path) -> None:
    empty = tmp_path / "policy.yaml"
    empty.write_text("# nothing overridden\n")
    assert load_policy_file(empty) == {}


def test_overrides_keep_project_scope() -> None:
    enforcer = Enforcer("legacy", {"placement:traits:list": "@"})
    assert enforcer.allowed(PERSONAS["no_roles"], "placement:traits:list")
    assert not enforcer.allowed(PERSONAS["system_admin"], "placement:traits:list")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("placement:traits:list: [role:admin]\n", "must be a string"),
        ("- role:admin\n", "must map rule names"),
        ("a: b: c\n", "cannot parse"),
        ('"placement:traits:list": "(role:admin"\n', "placement:traits:list"),
    ],
)
def test_bad_policy_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyFileError, match=message.replace("[", r"\[")):
        load_policy_file(path)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="cannot read"):
        load_policy_file(tmp_path / "absent.yaml")


def test_server_refuses_to_start_with_a_bad_policy_file(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text('"placement:traits:list": "role:admin and"\n')
    result = CliRunner().invoke(
        cli,
        [
            "serve",
            "--database-url",
            f"sqlite:///{tmp_path / 'b.sqlite'}",
            "--policy-file",
            str(bad),
        ],
    )
    # A one-line error naming the rule, no traceback, and no database created.
    assert result.exit_code == 1
    assert "Error: policy file" in result.output
    assert "placement:traits:list" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "b.sqlite").exists()


def test_policy_file_applies_through_the_api(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"placement:resource_providers:list": "@"\n"placement:traits:list": "!"\n')
    application = build_app(db_url, ApiConfig(policy_file=path))
    try:
        with make_client(application, token="someone:proj") as user:
            assert user.get("/resource_providers").status_code == 200
            assert user.get("/resource_classes").status_code == 403
        with make_client(application) as admin:
            assert admin.get("/traits").status_code == 403
    finally:
        application.state.store.dispose()


# -- noauth --------------------------------------------------------------------------


def _ctx(**headers: str) -> Context:
    req = Request(
        "GET", "/x", "", {k.lower().replace("_", "-"): v for k, v in headers.items()}, {}, "req-1"
    )
    return noauth_context(req)


def test_noauth_tokens() -> None:
    admin = _ctx(x_auth_token="admin")
    assert (admin.user_id, admin.project_id, admin.roles) == ("admin", "admin", {"admin"})
    user = _ctx(x_auth_token="alice:proj")
    assert (user.user_id, user.project_id, user.roles) == ("alice", "proj", frozenset())
    with pytest.raises(Unauthorized):
        _ctx()
    assert _ctx(x_auth_token="").roles == frozenset()


def test_noauth_headers() -> None:
    ctx = _ctx(x_auth_token="user", x_roles="Admin, member,", x_project_id="p1")
    assert (ctx.project_id, ctx.roles) == ("p1", {"admin", "member"})
    system = _ctx(x_auth_token="user", x_roles="reader", openstack_system_scope="all")
    assert (system.project_id, system.system_scope) == (None, "all")
    # X-Roles wins over the admin token's implied role.
    assert _ctx(x_auth_token="admin", x_roles="reader").roles == {"reader"}


def test_open_policy_like_placements_fixture(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "open.yaml"
    path.write_text("".join(f'"{n}": "@"\n' for n in RULE_NAMES if n != "admin_api"))
    application = build_app(db_url, ApiConfig(policy_file=path))
    try:
        with make_client(application, token="user") as user:
            assert user.get("/resource_providers").status_code == 200
            assert user.get("/traits").status_code == 200
            system = user.get("/traits", headers={"OpenStack-System-Scope": "all"})
            assert system.status_code == 403
    finally:
        application.state.store.dispose()


def test_secure_defaults_through_the_api(db_url: str) -> None:
    application = build_app(db_url, ApiConfig(policy_defaults="secure"))
    try:
        with make_client(application, token="user") as c:
            member = {"X-Roles": "member,reader", "X-Project-Id": PROJECT}
            assert c.get("/resource_providers", headers=member).status_code == 403
            service = {"X-Roles": "service", "X-Project-Id": "svc"}
            assert c.get("/resource_providers", headers=service).status_code == 200
            own = c.get(f"/usages?project_id={PROJECT}", headers=member)
            assert own.status_code != 403
            other = c.get(f"/usages?project_id={OTHER}", headers=member)
            assert other.status_code == 403
    finally:
        application.state.store.dispose()


def test_policy_file_with_a_reference_cycle(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        'admin_api: "rule:admin_or_service_api"\nadmin_or_service_api: "rule:admin_api"\n'
    )
    with pytest.raises(PolicyFileError, match="cycle: admin_api -> admin_or_service_api"):
        load_policy_file(path)
