"""How plans and results read: Terraform-like text for people, JSON for scripts. No I/O here."""

from __future__ import annotations

import json

from .executor import Outcome
from .planner import CONFLICT, CREATE, RECREATE, REMOVE, UNCHANGED, Plan

JSON_FORMAT_VERSION = 1

_SYMBOLS = {CREATE: "+", RECREATE: "-/+", REMOVE: "-", CONFLICT: "!"}
_PAST_TENSE = {CREATE: "created", RECREATE: "recreated", REMOVE: "removed"}


def plan_text(plan: Plan) -> str:
    shown = [action for action in plan.actions if action.kind != UNCHANGED]
    unchanged = plan.count(UNCHANGED)
    notes = [f"Warning: {note}" for note in plan.health_notes]
    if not shown:
        tunnels = f"{unchanged} tunnel{'s' if unchanged != 1 else ''}"
        return "\n".join([f"No changes. Project '{plan.project}': {tunnels} up to date.", *notes])
    width = max(len(action.tunnel) for action in shown)
    lines = [f"Project '{plan.project}':", ""]
    for action in shown:
        lines.append(f"{_SYMBOLS[action.kind]:>3} {action.tunnel:<{width}}  {action.kind:<8}  {_detail(action)}")
    lines += ["", summary_line(plan)] + ([""] + notes if notes else [])
    return "\n".join(lines)


def _detail(action) -> str:
    if action.kind == CREATE:
        return f"{action.container_name} ({action.spec.target})"
    if action.kind == CONFLICT:
        return action.reasons[0]
    return f"{action.container_name}: {'; '.join(action.reasons)}"


def summary_line(plan: Plan) -> str:
    line = (f"Plan: {plan.count(CREATE)} to create, {plan.count(RECREATE)} to recreate, "
            f"{plan.count(REMOVE)} to remove.")
    conflicts = plan.count(CONFLICT)
    if conflicts:
        line += f" {conflicts} tunnel{'s' if conflicts != 1 else ''} blocked (marked !)."
    return line


def plan_json(plan: Plan) -> str:
    document = {
        "format_version": JSON_FORMAT_VERSION,
        "project": plan.project,
        "changes": plan.has_changes,
        "summary": {kind: plan.count(kind) for kind in (CREATE, RECREATE, REMOVE, UNCHANGED, CONFLICT)},
        "actions": [
            {
                "tunnel": action.tunnel,
                "action": action.kind,
                "container": action.container_name,
                "reasons": list(action.reasons),
                "replaces": [container.id for container in action.replaces],
            }
            for action in plan.actions
        ],
    }
    return json.dumps(document, indent=2)


def outcome_line(outcome: Outcome) -> str:
    action = outcome.action
    if outcome.failed:
        return f"{action.tunnel}: failed to {action.kind if action.kind != CONFLICT else 'create'}: {outcome.error}"
    container = action.container_name + (f" ({outcome.container_id[:12]})" if outcome.container_id else "")
    return f"{action.tunnel}: {_PAST_TENSE[action.kind]} {container}"


def apply_summary(verb: str, outcomes: list[Outcome], kinds: tuple[str, ...] = (CREATE, RECREATE, REMOVE)) -> str:
    failed = [outcome for outcome in outcomes if outcome.failed]
    done = {kind: sum(1 for o in outcomes if not o.failed and o.action.kind == kind) for kind in kinds}
    counts = ", ".join(f"{count} {_PAST_TENSE[kind]}" for kind, count in done.items())
    if not failed:
        return f"{verb} complete: {counts}."
    names = ", ".join(sorted(outcome.action.tunnel for outcome in failed))
    return f"{verb} failed for {len(failed)} of {len(outcomes)} tunnels ({names}); {counts}."


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in [header, *rows])


def readiness_line(result) -> str:
    text = f"{result.tunnel}: {result.state}"
    if result.urls:
        text += " " + " ".join(result.urls)
    return text + (f" ({result.problem})" if result.problem else "")


def readiness_table(results) -> str:
    rows = [[result.tunnel, result.state, " ".join(result.urls) or "-"] for result in results]
    text = table(["TUNNEL", "STATE", "PUBLIC URLS"], rows)
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
    text = item.state + (f" ({item.exit_code})" if item.exit_code is not None else "")
    return text if item.in_manifest else text + ", not in manifest"


def _local_text(item) -> str:
    if item.local_host is None:
        return "-"
    where = f"{item.local_host}:{item.local_port}"
    return where + {True: " listening", False: " NOT listening", None: ""}[item.listening]


def status_text(project: str, items) -> str:
    rows = [[item.tunnel, _state_text(item), duration(item.uptime_seconds),
             "-" if item.restarts is None else str(item.restarts), _local_text(item), " ".join(item.urls) or "-"]
            for item in items]
    lines = [f"Project '{project}':", "",
             table(["TUNNEL", "STATE", "UPTIME", "RESTARTS", "LOCAL", "PUBLIC URLS"], rows)]
    problems = [f"{item.tunnel}: {item.problem}" for item in items if item.problem]
    return "\n".join(lines + ([""] + problems if problems else []))


def status_json(project: str, items) -> str:
    return json.dumps({
        "format_version": JSON_FORMAT_VERSION,
        "project": project,
        "tunnels": [{
            "tunnel": item.tunnel, "container": item.container, "in_manifest": item.in_manifest,
            "state": item.state, "exit_code": item.exit_code,
            "uptime_seconds": None if item.uptime_seconds is None else round(item.uptime_seconds, 1),
            "restarts": item.restarts,
            "local": {"host": item.local_host, "port": item.local_port, "listening": item.listening},
            "urls": list(item.urls), "healthy": item.healthy, "problem": item.problem or None,
        } for item in items],
    }, indent=2)
