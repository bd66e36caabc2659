"""``berth schedule``: send a scheduling request and print the answer for a human.

The JSON answer of ``POST /berth/v1/schedule`` carries everything (placements, the
per-stage explanation, every reason for the hosts named in ``explain_hosts``); this
command turns it into text an operator can read at a terminal, so "No valid host was
found" comes with "which filter removed which host, and why". It talks to a running
berth over HTTP with the standard library only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click


def render_text(answer: dict[str, Any]) -> str:
    """The readable form of a schedule answer (success, failure or dry run)."""
    lines: list[str] = []
    ex = answer.get("explanation", {})
    placements = answer.get("placements", [])
    if answer.get("placed"):
        verb = "Would place" if answer.get("dry_run") else "Placed and claimed"
        lines.append(f"{verb} {len(placements)} instance(s) in {answer.get('attempts', 1)} "
                     "attempt(s):")
        for p in placements:
            lines.append(f"  {p['instance_uuid']} -> {p['host']['name']} "
                         f"(score {p.get('score', 0)})")
            for rp, alloc in p["allocations"].items():
                resources = ", ".join(f"{rc} {n}" for rc, n in sorted(alloc["resources"].items()))
                lines.append(f"      {resources} from {rp}")
            for cell in p.get("numa", {}).get("cells", []):
                pins = " ".join(f"{g}->{h}" for g, h in cell["cpu_pinning"].items())
                lines.append(f"      guest cell {cell['guest_cell']} -> host cell "
                             f"{cell['host_cell']}; pages {cell['page_size_kb']} KiB"
                             + (f"; CPUs {pins}" if pins else ""))
            for device in p.get("devices", []):
                lines.append(f"      device {device['address']} for {device['request']}")
    else:
        failed = ex.get("failed_instance")
        which = f" (instance {failed + 1})" if isinstance(failed, int) else ""
        lines.append(f"No valid host was found{which}.")
    lines.append(f"Hosts: {ex.get('summary', '')}")
    for stage in ex.get("stages", []):
        if not stage["removed"]:
            continue
        reasons = "; ".join(f"{n:,} {reason}" for reason, n in stage["reasons"].items())
        lines.append(f"  {stage['stage']}: removed {stage['removed']:,} ({reasons})")
    for host, reasons in ex.get("hosts", {}).items():
        if not reasons:
            lines.append(f"Host {host}: passed every stage" + (
                " and was chosen" if host in ex.get("chosen", []) else ""))
            continue
        lines.append(f"Host {host}:")
        for r in reasons:
            detail = f" ({r['detail']})" if r.get("detail") else ""
            lines.append(f"  - {r['stage']}: {r['reason']}{detail}")
    for note in ex.get("lost_races", []):
        lines.append(f"Lost a race: {note}")
    return "\n".join(lines)


@click.command("schedule")
@click.argument("request_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", default="http://127.0.0.1:8780", show_default=True,
              envvar="BERTH_URL", help="A running berth (env BERTH_URL).")
@click.option("--token", default="admin", show_default=True, envvar="BERTH_TOKEN",
              help="X-Auth-Token (noauth: 'admin').")
@click.option("--dry-run", is_flag=True, help="Decide and explain; claim nothing.")
@click.option("--explain", "explain_hosts", multiple=True, metavar="HOST",
              help="Show every reason this host was not chosen (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
def schedule_cmd(
    request_file: Path,
    url: str,
    token: str,
    dry_run: bool,
    explain_hosts: tuple[str, ...],
    as_json: bool,
) -> None:
    """Schedule the request in REQUEST_FILE (JSON body of POST /berth/v1/schedule)."""
    body = json.loads(request_file.read_text())
    if dry_run:
        body["dry_run"] = True
    if explain_hosts:
        body["explain_hosts"] = sorted({*body.get("explain_hosts", []), *explain_hosts})
    req = urllib.request.Request(
        url.rstrip("/") + "/berth/v1/schedule",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Auth-Token": token},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read() or b"{}")
        if "explanation" not in answer:
            details = "; ".join(e.get("detail", "").strip() for e in answer.get("errors", []))
            raise click.ClickException(f"{exc.code}: {details or exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach berth at {url}: {exc.reason}") from exc
    click.echo(json.dumps(answer, indent=2) if as_json else render_text(answer))
    if not answer.get("placed"):
        raise SystemExit(2)
