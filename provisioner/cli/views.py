"""The views: how each command's results reach the terminal, for people (text, live progress) or for scripts (JSON).
The CLI picks one per command, once; the application functions (app/) only call its methods. Everything printed
goes through the redacting Console, except a secret the user asked to see."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..constants import EXIT_CHANGES, EXIT_OK, JSON_FORMAT_VERSION
from ..errors import ManifestError, UserError
from . import render
from .console import Console

if TYPE_CHECKING:  # what each command shows is imported by that command: a plan does not load status's code
    from ..app.doctor import Diagnosis
    from ..manifest import Manifest
    from ..mcp.check import TunnelCheck
    from ..mcp.url_memory import UrlChange
    from ..observe.status import TunnelStatus
    from ..plan.fleet import FleetPlan
    from ..plan.planner import ActionKind
    from ..run.executor import Outcome
    from ..run.readiness import Readiness

WATCH_SECONDS = 2.0  # status --watch
CLEAR_SCREEN = "\x1b[H\x1b[J"  # cursor home, erase to the end: the next status is drawn where the last one was
ERASE_LINE, ERASE_BELOW = "\x1b[2K", "\x1b[J"
STILL_WAITING_SECONDS = 10.0  # apply's progress where it cannot be redrawn (CI's log)


class HumanView:
    """Plain text on stdout, problems and notes on stderr."""

    def __init__(self, console: Console, wide: bool = False):
        self.console = console
        self.wide = wide  # status: one long row per tunnel instead of fitting the terminal
        self._last_status: str | None = None  # status --watch: what was shown last, to redraw or skip it
        self._changing = False  # the first outcome of an apply is set apart from the plan by a blank line
        self._waiting_since: float | None = None  # when apply began to wait for tunnels to come up
        self._said_at = 0.0  # when progress was last printed (not on a terminal)
        self._drawn = 0  # progress lines drawn on a terminal, to draw over

    def hide(self, secrets: Iterable[str]) -> None:
        self.console.hide(secrets)

    def say(self, text: str) -> None:
        self.console.print(text)

    def warn(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.console.error(line)

    def error(self, line: str) -> None:
        head, colon, rest = line.partition(": ")
        if colon and head in ("error", "note"):
            line = self.console.paint_error(head + ":", "red" if head == "error" else "yellow") + " " + rest
        self.console.error(line)

    def problem(self, error: UserError) -> None:
        """A user error: its details (one per problem), then the one line that says what to do."""
        if isinstance(error, ManifestError):
            self.console.hide(error.secrets)
        for line in error.details:
            self.console.error(line)
        self.console.error(f"{self.console.paint_error('error:', 'red')} {error.message}")

    def secret_output(self, text: str) -> None:
        print(text)  # the one output that is meant to be a secret: not through the redacting console

    def finish(self, code: int, error: UserError | None = None) -> None:
        """The command ended: everything was printed as it happened."""

    # validate
    def valid(self, path: Path, loaded: Manifest) -> None:
        count, warnings = len(loaded.tunnels), len(loaded.warnings)
        warned = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        self.say(f"{path}: valid; project '{loaded.project}', {count} tunnel{'s' if count != 1 else ''}{warned}.")

    def invalid(self, path: Path, error: UserError) -> None:
        self.problem(error)

    # plan, apply, destroy
    def plan(self, fleet: FleetPlan) -> None:
        self.say(render.plan_text(fleet, self.console.paint))

    def nothing(self, line: str) -> None:
        self.say(line)

    def saved_plan(self, path: Path) -> None:
        self.say(f"\nSaved the plan to {path}; carry it out with: tunnelctl apply {path}")

    def confirm(self, question: str) -> bool:
        """Terraform's way: only `yes` proceeds."""
        if not self.console.interactive:
            raise UserError("these changes need confirmation, but standard input is not a terminal: "
                            "rerun with --auto-approve to proceed without asking")
        self.say(f"\n{question} Only 'yes' will be accepted.")
        try:
            answer = input("Enter a value: ")
        except EOFError:  # Ctrl-D: the cursor is still on the prompt's line
            self.say("")
            answer = ""
        if answer.strip() != "yes":
            self.error("Cancelled: nothing was changed.")
            return False
        return True

    def outcome(self, outcome: Outcome, grouped: bool) -> None:
        if not self._changing:
            self._changing = True
            self.say("")
        self.say(render.outcome_line(outcome, grouped, self.console.paint))

    def summary(self, verb: str, outcomes: list[Outcome], kinds: tuple[ActionKind, ...], down: list[str]) -> None:
        self.say(render.apply_summary(verb, outcomes, kinds, down, self.console.paint))

    def readiness(self, results: list[Readiness]) -> None:
        """While tunnels come up: on a terminal, a line per tunnel redrawn in place (its state, the time waited, the
        newest words about it after whoever said them); elsewhere, Terraform's way, a line per tunnel still starting
        every 10 s. Reasons are left to the table at the end, so that each is said once."""
        now = time.monotonic()
        if self._waiting_since is None:
            self.say("")
            self._waiting_since, self._said_at, self._drawn = now, now, 0
        elapsed = now - self._waiting_since
        if self.console.live:
            width = self.console.width - 1  # a line that wraps would throw off the redraw
            lines = [render.progress_line(result, elapsed, width, self.console.paint) for result in results]
            cursor_up = f"\x1b[{self._drawn}A" if self._drawn else ""
            self.say(cursor_up + "\n".join(ERASE_LINE + line for line in lines))
            self._drawn = len(lines)
        elif now - self._said_at >= STILL_WAITING_SECONDS:
            self._said_at = now
            from ..run.readiness import STARTING

            for result in results:
                if result.state == STARTING:
                    self.say(render.progress_line(result, elapsed))

    def readiness_done(self, results: list[Readiness]) -> None:
        if self.console.live and self._drawn:
            self.console.write(f"\x1b[{self._drawn}A{ERASE_BELOW}")  # the table below says it all
        self.say(render.readiness_table(results, self.console.paint))
        self._waiting_since, self._drawn = None, 0

    # status, logs, check
    def status(self, project: str, items: list[TunnelStatus], grouped: bool, changes: list[UrlChange]) -> None:
        self.say(render.status_text(project, items, grouped, self.console.width, self.wide, self.console.paint))
        self.url_changes(changes)

    def url_changes(self, changes: list[UrlChange], aside: bool = False) -> None:
        """A tunnel's URL moved since tunnelctl last reported it: news, set apart by a blank line; `aside` when
        stdout is something to paste or save (connect's output), so the news goes to stderr."""
        lines = render.url_change_lines(changes)
        if lines and aside:
            self.warn(lines)
        elif lines:
            self.say("\n" + "\n".join(lines))

    def status_refresh(self, project: str, items: list[TunnelStatus], grouped: bool, failures: list[str]) -> None:
        """On a terminal, the screen redrawn in place; elsewhere the status again, stamped, only when it changed
        (uptimes aside), so that a log of it reads as a history."""
        text = "\n".join([render.status_text(project, items, grouped, self.console.width, self.wide,
                                              self.console.paint), *failures])
        if self.console.live:
            self.console.print(CLEAR_SCREEN + text + f"\n\nEvery {WATCH_SECONDS:g}s; Ctrl-C to stop.")
            return
        key = render.status_text(project, [replace(item, uptime_seconds=None) for item in items], grouped,
                                 self.console.width, self.wide)
        if key != self._last_status:
            self._last_status = key
            self.say(f"--- {time.strftime('%H:%M:%S')}\n{text}")

    def diagnosis(self, diagnosis: Diagnosis) -> None:
        from .render import diagnosis_text

        self.say(diagnosis_text(diagnosis))

    def output(self, lines: Iterator[str]) -> None:
        for line in lines:
            self.console.write(line)

    def check(self, project: str, results: list[TunnelCheck]) -> None:
        from .render import check_text

        self.say(check_text(project, results))

    def wrote(self, line: str) -> None:
        self.say(line)

    def client_config(self, tunnel: str, client: str, url: str, text: str, revealed: bool) -> None:
        if revealed:
            self.secret_output(text)
        else:
            self.say(text)


class JsonView:
    """One JSON document on stdout, printed when the command ends (`finish`): `format_version`, then `ok` (true
    exactly when the command succeeded: exit 0, or 2 for plan --detailed-exitcode), then the command's own fields.
    Notes and errors go to stderr, so stdout is only ever that document.

    Not a HumanView: a method this view lacks is a type error (mypy checks each command's view protocol), never a
    line of human text inside the JSON."""

    def __init__(self, console: Console):
        self.console = console
        self._fields: dict[str, Any] = {}
        self._revealed = False  # connect --reveal: the document holds the secret the user asked to see

    def hide(self, secrets: Iterable[str]) -> None:
        self.console.hide(secrets)

    def warn(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.console.error(line)

    def error(self, line: str) -> None:
        self.console.error(line)

    def finish(self, code: int, error: UserError | None = None) -> None:
        fields = {**self._fields, "error": error.message} if error else self._fields
        document = {"format_version": JSON_FORMAT_VERSION, "ok": error is None and code in (EXIT_OK, EXIT_CHANGES),
                    **fields}
        if self._revealed:  # not through the redacting console
            print(json.dumps(document, indent=2, ensure_ascii=False))
        else:
            self.console.print_json(document)

    # validate
    def valid(self, path: Path, loaded: Manifest) -> None:
        self._fields.setdefault("manifests", []).append({
            "path": str(path), "ok": True, "project": loaded.project, "tunnels": len(loaded.tunnels),
            "warnings": list(loaded.warnings), "errors": []})

    def invalid(self, path: Path, error: UserError) -> None:
        HumanView(self.console).problem(error)  # to stderr, as without --json
        self._fields.setdefault("manifests", []).append({
            "path": str(path), "ok": False, "project": None, "tunnels": None, "warnings": [],
            "errors": [*error.details, error.message]})

    # plan, apply, destroy: apply's document is plan's, with what was done and what came up
    def plan(self, fleet: FleetPlan) -> None:
        from ..plan.fleet import plan_document

        self._fields.update(plan_document(fleet))

    def nothing(self, line: str) -> None:
        self._fields["has_changes"] = False

    def saved_plan(self, path: Path) -> None:
        self.error(f"Saved the plan to {path}; carry it out with: tunnelctl apply {path}")
        self._fields["saved_plan"] = str(path)

    def confirm(self, question: str) -> bool:
        raise UserError("--json prints one document and cannot ask for confirmation: add --auto-approve")

    def outcome(self, outcome: Outcome, grouped: bool) -> None:
        action = outcome.action
        self._fields.setdefault("outcomes", []).append({
            "engine": outcome.engine, "tunnel": action.tunnel, "action": action.kind, "ok": not outcome.failed,
            "container_id": outcome.container_id, "error": outcome.error})

    def summary(self, verb: str, outcomes: list[Outcome], kinds: tuple[ActionKind, ...], down: list[str]) -> None:
        self._fields.setdefault("outcomes", [])  # each outcome (and each tunnel's readiness) is in the document

    def readiness(self, results: list[Readiness]) -> None:
        pass  # progress is for people watching; the document says how each tunnel ended

    def readiness_done(self, results: list[Readiness]) -> None:
        from ..observe.conditions import UP

        self._fields["tunnels"] = [{"tunnel": result.tunnel, "state": result.state, "ok": result.state == UP,
                                    "urls": list(result.urls), "problem": result.problem or None}
                                   for result in results]

    # status, doctor, check, connect
    def status(self, project: str, items: list[TunnelStatus], grouped: bool, changes: list[UrlChange]) -> None:
        self._fields.update(render.status_document(project, items, changes))
        self.url_changes(changes)

    def url_changes(self, changes: list[UrlChange], aside: bool = True) -> None:
        self.warn(render.url_change_lines(changes))  # stdout is the JSON document

    def diagnosis(self, diagnosis: Diagnosis) -> None:
        self._fields.update(render.diagnosis_document(diagnosis))

    def check(self, project: str, results: list[TunnelCheck]) -> None:
        self._fields.update(render.check_document(project, results))

    def wrote(self, line: str) -> None:
        self._fields.setdefault("written", []).append(line)

    def client_config(self, tunnel: str, client: str, url: str, text: str, revealed: bool) -> None:
        self._fields.update({"tunnel": tunnel, "client": client, "mcp_url": url, "config": text,
                             "revealed": revealed})
        self._revealed = revealed
