"""The views: how each command's results reach the terminal, for people (text, live progress) or for scripts (JSON).
The CLI picks one per command, once; the application functions (app/) only call its methods. Everything printed
goes through the redacting Console, except a secret the user asked to see."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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


class HumanView:
    """Plain text on stdout, problems and notes on stderr."""

    def __init__(self, console: Console):
        self.console = console
        self._changing = False  # the first outcome of an apply is set apart from the plan by a blank line
        self._drawn: int | None = None  # readiness lines drawn so far on a terminal; None: not waiting
        self._reported: set[str] = set()  # tunnels whose readiness was printed (not on a terminal)

    def hide(self, secrets: Iterable[str]) -> None:
        self.console.hide(secrets)

    def say(self, text: str) -> None:
        self.console.print(text)

    def warn(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.console.error(line)

    def error(self, line: str) -> None:
        self.console.error(line)

    def problem(self, error: UserError) -> None:
        """A user error: its details (one per problem), then the one line that says what to do."""
        if isinstance(error, ManifestError):
            self.console.hide(error.secrets)
        for line in error.details:
            self.console.error(line)
        self.console.error(f"error: {error.message}")

    def secret_output(self, text: str) -> None:
        print(text)  # the one output that is meant to be a secret: not through the redacting console

    # validate
    def valid(self, path: Path, loaded: Manifest) -> None:
        count, warnings = len(loaded.tunnels), len(loaded.warnings)
        warned = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        self.say(f"{path}: valid; project '{loaded.project}', {count} tunnel{'s' if count != 1 else ''}{warned}.")

    # plan, apply, destroy
    def plan(self, fleet: FleetPlan) -> None:
        self.say(render.plan_text(fleet))

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
        except EOFError:
            answer = ""
        if answer.strip() != "yes":
            self.error("Cancelled: nothing was changed.")
            return False
        return True

    def outcome(self, outcome: Outcome, grouped: bool) -> None:
        if not self._changing:
            self._changing = True
            self.say("")
        self.say(render.outcome_line(outcome, grouped))

    def summary(self, verb: str, outcomes: list[Outcome], kinds: tuple[ActionKind, ...]) -> None:
        self.say(render.apply_summary(verb, outcomes, kinds))

    def readiness(self, results: list[Readiness]) -> None:
        """Live per-tunnel lines on a terminal, redrawn in place; elsewhere one plain line per tunnel once it is up
        or has failed."""
        from ..run.readiness import STARTING

        if self._drawn is None:
            self.say("")
            self._drawn = 0
        if self.console.live:
            cursor_up = f"\x1b[{self._drawn}A" if self._drawn else ""
            self.say(cursor_up + "\n".join("\x1b[2K" + render.readiness_line(result) for result in results))
            self._drawn = len(results)
            return
        for result in results:
            if result.state != STARTING and result.tunnel not in self._reported:
                self._reported.add(result.tunnel)
                self.say(render.readiness_line(result))

    def readiness_done(self, results: list[Readiness]) -> None:
        self.say("")
        self.say(render.readiness_table(results))
        self._drawn = None

    # status, logs, check
    def status(self, project: str, items: list[TunnelStatus], grouped: bool, changes: list[UrlChange]) -> None:
        self.say(render.status_text(project, items, grouped))
        self.url_changes(changes)

    def url_changes(self, changes: list[UrlChange], aside: bool = False) -> None:
        """A tunnel's URL moved since tunnelctl last reported it: news, set apart by a blank line; `aside` when
        stdout is something to paste or save (connect's output), so the news goes to stderr."""
        lines = render.url_change_lines(changes)
        if lines and aside:
            self.warn(lines)
        elif lines:
            self.say("\n" + "\n".join(lines))

    def diagnosis(self, diagnosis: Diagnosis) -> None:
        from .render import diagnosis_text

        self.say(diagnosis_text(diagnosis))

    def output(self, lines: Iterator[str]) -> None:
        for line in lines:
            self.console.write(line)

    def check(self, project: str, results: list[TunnelCheck]) -> None:
        from .render import check_text

        self.say(check_text(project, results))


class JsonView(HumanView):
    """One JSON document on stdout (format_version 1) instead of text; notes go to stderr, so stdout stays JSON."""

    def document(self, text: str) -> None:
        self.console.print_json(json.loads(text))

    def plan(self, fleet: FleetPlan) -> None:
        self.document(render.plan_json(fleet))

    def saved_plan(self, path: Path) -> None:
        self.error(f"Saved the plan to {path}; carry it out with: tunnelctl apply {path}")

    def status(self, project: str, items: list[TunnelStatus], grouped: bool, changes: list[UrlChange]) -> None:
        self.document(render.status_json(project, items, changes))
        self.url_changes(changes)

    def url_changes(self, changes: list[UrlChange], aside: bool = True) -> None:
        self.warn(render.url_change_lines(changes))  # stdout is the JSON document

    def diagnosis(self, diagnosis: Diagnosis) -> None:
        from .render import diagnosis_json

        self.document(diagnosis_json(diagnosis))

    def check(self, project: str, results: list[TunnelCheck]) -> None:
        from .render import check_json

        self.document(check_json(project, results))
