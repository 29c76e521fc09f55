"""How plans and results read: Terraform-like text for people, JSON for scripts. No I/O here."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Collection
from dataclasses import asdict
from typing import TYPE_CHECKING

from ..engine import Unreachable
from ..observe.conditions import UP_LOCAL_DOWN
from ..plan.kinds import CHANGE_KINDS, CONFLICT, CREATE, MOVE, RECREATE, REMOVE, UNCHANGED, ActionKind
from ..redaction import SENSITIVE
from .console import Painter, plain

STATUS_WIDTH = 80  # columns, when output is not a terminal that says its own
SUB_INDENT = "    "  # a tunnel's URLs and reason, beneath its row
_SYMBOLS = {CREATE: "+", RECREATE: "-/+", REMOVE: "-", CONFLICT: "!"}
_KIND_STYLES = {CREATE: "green", RECREATE: "yellow", MOVE: "yellow", REMOVE: "red", CONFLICT: "red"}
_STATE_STYLES = {"up": "green", "connecting": "yellow", "starting": "yellow", "restarting": "yellow"}
_PAST_TENSE = {CREATE: "created", RECREATE: "recreated", MOVE: "moved", REMOVE: "removed"}

if TYPE_CHECKING:  # a status loads neither the planner nor apply's code (a twentieth of its imports)
    from ..app.doctor import Diagnosis
    from ..mcp.check import TunnelCheck
    from ..plan.fleet import FleetPlan
    from ..plan.planner import SettingChange
    from ..run.executor import Outcome


def plan_text(fleet: FleetPlan, paint: Painter = plain) -> str:
    """Terraform-like: a line per change, grouped by engine when the manifest names several."""
    notes = [f"Warning: {note}" for part in fleet.reachable for note in part.plan.health_notes]
    notes += [f"Note: {note}" for part in fleet.reachable for note in part.notes]
    unreachable = [f"  engine '{part.name}' could not be reached (see below)" for part in fleet.unreachable]
    if not fleet.has_changes and not fleet.conflicts:
        unchanged = fleet.count(UNCHANGED)
        line = f"No changes. Project '{fleet.project}': {unchanged} tunnel{'s' if unchanged != 1 else ''} up to date."
        return "\n".join([line, *unreachable, *notes])
    shown = [action for part in fleet.reachable for action in part.plan.actions if action.kind != UNCHANGED]
    width = max([len(action.tunnel) for action in shown] + [len(move.tunnel) for move in fleet.moves])
    lines = [f"Project '{fleet.project}':"]
    for part in fleet.engines:
        if not fleet.single:
            lines += ["", f"Engine '{part.name}' ({part.endpoint or 'unreachable'}):"]
        if isinstance(part, Unreachable):
            lines.append("  could not be reached (see below)")
            continue
        changes = [action for action in part.plan.actions if action.kind != UNCHANGED]
        lines += ([""] if fleet.single else []) + [_action_line(action, width, paint) for action in changes]
        if not changes and not fleet.single:
            lines.append("  no changes")
    if fleet.moves:
        lines += ["", "Moves:"] + [f"  → {move.tunnel:<{width}}  move      {move.source} → {move.destination} "
                                   f"(up on {move.destination} first, then removed from {move.source})"
                                   for move in fleet.moves]
    return "\n".join(lines + ["", summary_line(fleet)] + ([""] + notes if notes else []))


def _action_line(action, width: int, paint: Painter = plain) -> str:
    style = _KIND_STYLES[action.kind]
    line = (f"{paint(f'{_SYMBOLS[action.kind]:>3}', style)} {action.tunnel:<{width}}  "
            f"{paint(f'{action.kind:<8}', style)}  {_detail(action)}")
    created = action.kind == CREATE
    sign = paint("+" if created else "~", style)
    settings = [f"{'':>{width + 6}}{sign} {change.setting}: {setting_values(change, created)}"
                for change in action.settings]
    return "\n".join([line, *settings])


def setting_values(change: SettingChange, created: bool) -> str:
    """A create's value, a change's `old → new`, or `(sensitive)` for a setting that holds a secret."""
    if change.sensitive:
        return SENSITIVE
    new = json.dumps(change.new, ensure_ascii=False)
    if created:
        return new
    old = json.dumps(change.old, ensure_ascii=False) if change.old_known else "(not recorded)"
    return f"{old} → {new}"


def _detail(action) -> str:
    if action.kind == CREATE:
        return f"{action.container_name} ({action.creates.target})"
    if action.kind == CONFLICT:
        return action.reasons[0]
    return f"{action.container_name}: {'; '.join(action.reasons)}"


def summary_line(fleet: FleetPlan) -> str:
    moves = f"{len(fleet.moves)} to move, " if fleet.moves else ""
    line = (f"Plan: {fleet.count(CREATE)} to create, {fleet.count(RECREATE)} to recreate, {moves}"
            f"{fleet.count(REMOVE)} to remove.")
    conflicts = fleet.conflicts
    if conflicts:
        line += f" {conflicts} tunnel{'s' if conflicts != 1 else ''} blocked (marked !)."
    return line


def outcome_line(outcome: Outcome, with_engine: bool = False, paint: Painter = plain) -> str:
    action = outcome.action
    who = f"{outcome.engine}/{action.tunnel}" if with_engine else action.tunnel
    if outcome.failed:
        failed = paint(f"failed to {action.kind if action.kind != CONFLICT else 'create'}", "red")
        return f"{who}: {failed}: {outcome.error}"
    container = action.container_name + (f" ({outcome.container_id[:12]})" if outcome.container_id else "")
    if action.kind == MOVE:
        return f"{who}: {paint('moved', 'yellow')} {action.reasons[0]}, now {container}"
    return f"{who}: {paint(_PAST_TENSE[action.kind], _KIND_STYLES[action.kind])} {container}"


def apply_summary(verb: str, outcomes: list[Outcome], kinds: tuple[ActionKind, ...] = CHANGE_KINDS,
                  down: Collection[str] = (), paint: Painter = plain) -> str:
    """`down`: tunnels whose container was made but that did not come up; they count as failed."""
    if any(outcome.action.kind == MOVE for outcome in outcomes):
        kinds = (*kinds[:-1], MOVE, kinds[-1])
    failed = sorted({outcome.action.tunnel for outcome in outcomes if outcome.failed} | set(down))
    done = {kind: sum(1 for o in outcomes if not o.failed and o.action.kind == kind) for kind in kinds}
    counts = ", ".join(f"{count} {_PAST_TENSE[kind]}" for kind, count in done.items())
    if not failed:
        return f"{paint(f'{verb} complete:', 'green')} {counts}."
    not_up = f"; {', '.join(sorted(down))} did not come up" if down else ""
    return (f"{paint(f'{verb} failed', 'red')} for {len(failed)} of {len(outcomes)} tunnels ({', '.join(failed)}); "
            f"{counts}{not_up}.")


def progress_line(result, elapsed: float, width: int | None = None, paint: Painter = plain) -> str:
    """A tunnel while apply waits: its state, and while it starts the time waited and the newest words about it,
    after whoever said them (Pinggy, the client, the container's init process; tunnelctl's own without a name); cut
    to `width` columns."""
    from ..run.readiness import REFUSED, STARTING  # apply's own: loaded only when it waits

    head = f"{result.tunnel}: "
    rest = ""
    if result.state == STARTING:
        words = result.problem.removeprefix(REFUSED)  # a refusal's words are Pinggy's own
        said = f" {result.said_by}:" if result.said_by else ""
        rest = f" [{int(elapsed)}s elapsed]" + (f"{said} {words}" if words else "")
    if width is not None and len(head) + len(result.state) + len(rest) > width:
        rest = rest[:max(0, width - len(head) - len(result.state) - 1)] + "…"
    return head + paint(result.state, state_style(result.state)) + rest


def table(header: list[str], rows: list[list[str]], paint: Painter = plain, painted: int | None = None) -> str:
    """Aligned columns; the cells of column `painted` in the style their text calls for (padded first, so that
    colour codes do not count as width)."""
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def cell(text: str, column: int, is_header: bool) -> str:
        padded = text.ljust(widths[column])
        if column != painted or is_header:
            return padded
        return paint(text, state_style(text)) + padded[len(text):]

    return "\n".join("  ".join(cell(text, column, row is header) for column, text in enumerate(row)).rstrip()
                     for row in [header, *rows])


def state_style(state: str) -> str:
    """up is green, on its way yellow, anything else (exited, missing, failed…) red."""
    return _STATE_STYLES.get(state.split(" ")[0].rstrip(","), "red")


def readiness_table(results, paint: Painter = plain) -> str:
    rows = [[result.tunnel, result.state, " ".join(result.urls) or "-"] for result in results]
    text = table(["TUNNEL", "STATE", "PUBLIC URLS"], rows, paint, 1)
    problems = [f"{result.tunnel}: {result.problem}" for result in results if result.problem]
    return "\n".join([text, *problems])


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    for unit, size, smaller, smaller_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if seconds >= size:
            return f"{seconds // size}{unit}{(seconds % size) // smaller_size:02d}{smaller}"
    return f"{seconds}s"


def _state_text(item) -> str:
    text = item.condition + (f" ({item.exit_code})" if item.exit_code is not None else "")
    return text if item.in_manifest else text + ", not in manifest"


def _local_text(item) -> str:
    if item.local_host is None:
        return "-"
    where = f"{item.local_host}:{item.local_port}" + (f" on {item.network}" if item.network else "")
    if item.relay_down:
        return where + f" unreachable (relay {item.relay})"
    return where + {True: " listening", False: " NOT listening", None: ""}[item.listening]


def status_text(project: str, items, grouped: bool = False, width: int = STATUS_WIDTH, wide: bool = False,
                paint: Painter = plain) -> str:
    """`grouped`: the manifest names several engines, so each row says which one. Fits `width` columns: a row per
    tunnel, its URLs and why it is down on lines of their own beneath it; `wide`, one long row per tunnel."""
    if wide:
        return _status_wide(project, items, grouped, paint)
    with_local = True
    while True:
        header = (["ENGINE"] if grouped else []) + ["TUNNEL", "STATE", "UPTIME", "RESTARTS"] + (
            ["LOCAL"] if with_local else [])
        rows = [([item.engine] if grouped else []) + [
            item.tunnel, _narrow_state(item), duration(item.uptime_seconds),
            "-" if item.restarts is None else str(item.restarts)] + ([_local_text(item)] if with_local else [])
            for item in items]
        if not with_local or max(len(line) for line in table(header, rows).splitlines()) <= width:
            break
        with_local = False  # the local target moves to a line of its own
    lines = table(header, rows, paint, header.index("STATE")).splitlines()
    out = [f"Project '{project}':", "", lines[0]]
    for item, row in zip(items, lines[1:], strict=True):
        out.append(row)
        below = [] if with_local else [f"local: {_local_text(item)}"]
        below += list(item.urls) + ([f"MCP: {item.mcp_url}"] if item.mcp_url else [])
        below += [] if item.in_manifest else ["not in the manifest: tunnelctl apply removes it"]
        out += [SUB_INDENT + line for line in below]
        if item.problem:
            out += textwrap.wrap(item.problem, width, initial_indent=SUB_INDENT + "why: ",
                                 subsequent_indent=SUB_INDENT + "     ", break_on_hyphens=False)
    return "\n".join(out)


def _narrow_state(item) -> str:
    """The condition, short: 'up' with a local server not listening says so in LOCAL."""
    state = "up" if item.condition == UP_LOCAL_DOWN else item.condition
    return state + (f" ({item.exit_code})" if item.exit_code is not None else "")


def _status_wide(project: str, items, grouped: bool, paint: Painter) -> str:
    mcp = any(item.mcp_path for item in items)  # MCP clients want the endpoint's URL, so it gets its own column
    header = (["ENGINE"] if grouped else []) + ["TUNNEL", "STATE", "UPTIME", "RESTARTS", "LOCAL", "PUBLIC URLS"] + (
        ["MCP URL"] if mcp else [])
    rows = [([item.engine] if grouped else []) + [
        item.tunnel, _state_text(item), duration(item.uptime_seconds),
        "-" if item.restarts is None else str(item.restarts), _local_text(item), " ".join(item.urls) or "-"] + (
        [item.mcp_url or "-"] if mcp else [])
        for item in items]
    lines = [f"Project '{project}':", "", table(header, rows, paint, header.index("STATE"))]
    problems = [f"{item.tunnel}: {item.problem}" for item in items if item.problem]
    return "\n".join(lines + ([""] + problems if problems else []))


def url_change_lines(changes) -> list[str]:
    """The news that a tunnel's URL moved, and what to do: which client files tunnelctl brought along, which it could
    not, and what else still points at the old URL."""
    lines = []
    for change in changes:
        name = change.tunnel
        lines.append(f"{name}: URL changed: {change.previous} → {change.current}")
        lines += [f"{name}: updated {file} to the new URL" for file in change.followed]
        lines += [f"{name}: {file} still names the old URL: {why}" for file, why in change.stale]
        lines.append(f"{name}: clients configured another way (by hand, or by `claude mcp add`) still use the old "
                     f"URL: rerun tunnelctl connect {name} --client CLIENT (--write to let tunnelctl keep the file "
                     "pointed at the tunnel); a Pro token keeps one URL with `domains:` (README: Keeping clients "
                     "pointed at the tunnel)")
    return lines


def status_document(project: str, items, changes=()) -> dict:
    moved = {change.tunnel: change for change in changes}
    return {
        "project": project,
        "tunnels": [{
            "engine": item.engine, "tunnel": item.tunnel, "container": item.container, "in_manifest": item.in_manifest,
            "state": item.state, "condition": item.condition, "exit_code": item.exit_code,
            "uptime_seconds": None if item.uptime_seconds is None else round(item.uptime_seconds, 1),
            "restarts": item.restarts,
            "local": {"host": item.local_host, "port": item.local_port, "network": item.network,
                      "listening": item.listening},
            "urls": list(item.urls), "mcp_url": item.mcp_url, "domains": list(item.domains),
            "previous_url": moved[item.tunnel].previous if item.tunnel in moved else None,
            "client_files_followed": list(moved[item.tunnel].followed) if item.tunnel in moved else [],
            "client_files_stale": [{"file": file, "why": why} for file, why in moved[item.tunnel].stale]
            if item.tunnel in moved else [],
            "ok": item.healthy, "problem": item.problem or None,
        } for item in items],
    }


def diagnosis_text(diagnosis: Diagnosis) -> str:
    from ..app.doctor import FAIL, SECTIONS, SKIP

    lines = [f"tunnelctl doctor: {diagnosis.manifest}"]
    for section in SECTIONS:
        lines += ["", section]
        lines += [f"  {finding.status.upper():<5} " + (f"{finding.subject}: " if finding.subject else "")
                  + finding.message for finding in diagnosis.findings if finding.section == section]
    failed = sum(1 for finding in diagnosis.findings if finding.status == FAIL)
    checked = sum(1 for finding in diagnosis.findings if finding.status != SKIP)
    lines += ["", f"{failed} of {checked} checks failed." if failed else f"All {checked} checks passed."]
    return "\n".join(lines)


def diagnosis_document(diagnosis: Diagnosis) -> dict:
    return {"manifest": str(diagnosis.manifest), "checks": [asdict(finding) for finding in diagnosis.findings]}


def check_text(project: str, checks: list[TunnelCheck]) -> str:
    from ..mcp.check import SKIP

    lines = [f"Project '{project}':"]
    for check in checks:
        lines += ["", f"{check.tunnel} ({check.kind}) {check.url or '-'}"]
        width = max(len(part.name) for part in check.parts)
        for part in check.parts:
            took = _ms(part.seconds) if part.seconds is not None else "-"
            lines.append(f"  {part.result.upper():4}  {part.name.ljust(width)}  {took:>7}  {part.detail}")
    failed = [check.tunnel for check in checks if not check.passed]
    skipped = sum(part.result == SKIP for check in checks for part in check.parts)
    note = f" ({skipped} part{'s' if skipped != 1 else ''} skipped)" if skipped else ""
    count = f"{len(checks)} tunnel{'s' if len(checks) != 1 else ''}"
    lines.append("")
    lines.append(f"Check failed for {len(failed)} of {count}: {', '.join(failed)}{note}." if failed
                 else f"Check passed: {count}{note}.")
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def check_document(project: str, checks: list[TunnelCheck]) -> dict:
    return {
        "project": project,
        "tunnels": [{
            "tunnel": check.tunnel, "kind": check.kind, "url": check.url, "ok": check.passed,
            "parts": [{"part": part.name, "result": part.result, "detail": part.detail,
                       "seconds": None if part.seconds is None else round(part.seconds, 4),
                       "http_status": part.http_status,
                       **({"server": part.server} if part.server else {})} for part in check.parts],
        } for check in checks],
    }
