"""The ``berth`` command: thin click wrappers over server and db."""

from __future__ import annotations

from pathlib import Path

import click

from berth.api.policy import PolicyFileError
from berth.api.state import ApiConfig
from berth.cli import scheduler_file
from berth.cli.why import schedule_cmd
from berth.db import migrate
from berth.db.engine import Store, default_url
from berth.server import ServerSettings, serve

_DB = click.option(
    "--database-url",
    envvar="BERTH_DATABASE_URL",
    default=default_url,
    show_default="sqlite:///berth.sqlite",
    help="sqlite:///path, postgresql://user@host/db or mysql://user@host/db "
    "(env BERTH_DATABASE_URL).",
)


@click.group()
def main() -> None:
    """berth: a drop-in OpenStack Placement and scheduler."""


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8780, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Worker processes."
)
@click.option(
    "--threads",
    default=64,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Threads per worker (requests in flight; scheduling requests in flight together "
    "are decided as one batch).",
)
@_DB
@click.option(
    "--auth",
    type=click.Choice(["noauth"]),
    default="noauth",
    show_default=True,
    help="noauth: Placement's noauth2 (token 'admin' is admin, 'user:project' has "
    "no roles, X-Roles honoured).",
)
@click.option(
    "--policy-defaults",
    type=click.Choice(["legacy", "secure"]),
    default="legacy",
    show_default=True,
    help="legacy: old-or-new rules; secure: secure-RBAC only.",
)
@click.option(
    "--policy-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML/JSON file overriding policy rules by Placement name.",
)
@click.option("--cors-allowed-origin", multiple=True, help="Allowed CORS origin (repeatable).")
@click.option("--cors-allow-header", multiple=True, help="Extra allowed CORS header (repeatable).")
@click.option(
    "--bulk-max-providers",
    default=ApiConfig().bulk_max_providers,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Largest batch of POST /berth/v1/provider_trees (berth's bulk-load extension).",
)
@click.option(
    scheduler_file.OPTION,
    "scheduler_config",
    envvar="BERTH_SCHEDULER_CONFIG",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML/JSON scheduler configuration: filters, weights, strategy, limits, PCI "
    "aliases (env BERTH_SCHEDULER_CONFIG).",
)
@click.option(
    "--scheduler-strategy",
    type=click.Choice(["pack", "spread"]),
    default=None,
    help="Fill hosts up (pack) or prefer the emptiest (spread); overrides the config file.",
)
def serve_cmd(
    host: str,
    port: int,
    workers: int,
    threads: int,
    database_url: str,
    auth: str,
    policy_defaults: str,
    policy_file: Path | None,
    cors_allowed_origin: tuple[str, ...],
    cors_allow_header: tuple[str, ...],
    bulk_max_providers: int,
    scheduler_config: Path | None,
    scheduler_strategy: str | None,
) -> None:
    """Serve the Placement API (creates or upgrades the database first)."""
    scheduler = scheduler_file.load(scheduler_config, scheduler_strategy)
    api = ApiConfig(
        auth=auth,
        policy_defaults=policy_defaults,
        policy_file=policy_file,
        cors_allowed_origins=cors_allowed_origin,
        cors_allow_headers=cors_allow_header,
        bulk_max_providers=bulk_max_providers,
    )
    try:
        serve(
            ServerSettings(
                database_url=database_url,
                host=host,
                port=port,
                workers=workers,
                threads=threads,
                api=api,
                scheduler=scheduler,
            )
        )
    except PolicyFileError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group("db")
def db_group() -> None:
    """Database schema management."""


@db_group.command("upgrade")
@_DB
def db_upgrade(database_url: str) -> None:
    """Create or upgrade the schema to the latest version and sync standard names."""
    migrate.upgrade(Store.from_url(database_url))
    click.echo("database is at the latest schema")


if __name__ == "__main__":
    main()


main.add_command(schedule_cmd)
