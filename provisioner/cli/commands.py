"""Each command as the CLI runs it: its arguments as typed options, its view chosen once, its one application
function called. A new command adds its options and help to parser.py, one function here, its application function
in app/ and, if it prints something new, a method on the views."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from ..constants import EXIT_ERROR, EXIT_OK
from ..engine import LogTail
from ..errors import UserError
from . import completion
from .console import Console
from .views import WATCH_SECONDS, HumanView, JsonView

if TYPE_CHECKING:  # each command imports its own application module: a plan does not load status's or check's code
    from ..app import changes


def _manifest(args: argparse.Namespace, console: Console) -> Path:
    """-f FILE, or the manifest found the dotfiles way (said when it is not ./tunnels.yaml)."""
    from ..manifest import find_manifest

    if args.file is not None:
        return args.file
    located = find_manifest()
    if located.source and not args.quiet:
        console.error(f"Using the manifest {located.path} (found through {located.source}; -f FILE names another).")
    return located.path


def _scope(args: argparse.Namespace, console: Console) -> changes.Scope:
    from ..app import changes

    return changes.Scope(_manifest(args, console), tuple(args.env_file), tuple(args.engine),
                         tuple(getattr(args, "target", ())), tuple(getattr(args, "replace", ())),
                         getattr(args, "pull", False))


def _view(args: argparse.Namespace, console: Console) -> HumanView | JsonView:
    return JsonView(console) if getattr(args, "json", False) else HumanView(console)


def _reported(view: HumanView | JsonView, run: Callable[[], int]) -> int:
    """Run the command, then let the view finish: with --json, that prints the one document, an error's too."""
    try:
        code = run()
    except UserError as error:
        view.finish(EXIT_ERROR, error)
        raise
    view.finish(code)
    return code


def _execute(args: argparse.Namespace) -> changes.ExecuteOptions:
    from ..app import changes

    waiting = not getattr(args, "no_wait", True)
    return changes.ExecuteOptions(args.auto_approve, args.lock_timeout, args.parallelism,
                                  args.timeout if waiting else None)


def plan(args: argparse.Namespace, console: Console) -> int:
    from ..app import changes

    options = changes.PlanOptions(_scope(args, console), args.detailed_exitcode, args.out)
    view = _view(args, console)
    return _reported(view, lambda: changes.plan(options, view))


def apply(args: argparse.Namespace, console: Console) -> int:
    from ..app import changes

    view = _view(args, console)
    if args.plan_file:  # a saved plan names its manifest, engines, targets and replacements
        saved = changes.SavedPlanOptions(args.plan_file, tuple(args.env_file), args.pull, _execute(args))
        return _reported(view, lambda: changes.apply_saved_plan(saved, view))
    options = changes.ApplyOptions(_scope(args, console), _execute(args))
    return _reported(view, lambda: changes.apply(options, view))


def destroy(args: argparse.Namespace, console: Console) -> int:
    from ..app import changes

    return changes.destroy(changes.DestroyOptions(_scope(args, console), _execute(args)), HumanView(console))


def status(args: argparse.Namespace, console: Console) -> int:
    from ..app import running

    options = running.StatusOptions(_manifest(args, console), tuple(args.env_file), tuple(args.engine))
    if args.watch:
        if args.json:
            raise UserError("--watch redraws the status for people; for scripts, run status --json when needed")
        return running.watch_status(options, HumanView(console, wide=args.wide), WATCH_SECONDS)
    view = JsonView(console) if args.json else HumanView(console, wide=args.wide)
    return _reported(view, lambda: running.status(options, view))


def logs(args: argparse.Namespace, console: Console) -> int:
    from ..app import running

    tail: LogTail = "all" if args.tail == "all" else _whole_number(args.tail, "--tail")
    since = _moment(args.since) if args.since else None
    options = running.LogsOptions(_manifest(args, console), args.tunnel, tail, args.follow, since, args.timestamps,
                                  tuple(args.env_file), tuple(args.engine))
    return running.logs(options, HumanView(console))


def doctor(args: argparse.Namespace, console: Console) -> int:
    from ..app import running

    options = running.DoctorOptions(_manifest(args, console), tuple(args.env_file), tuple(args.engine))
    view = _view(args, console)
    return _reported(view, lambda: running.doctor(options, view))


def check(args: argparse.Namespace, console: Console) -> int:
    from ..app import mcp_tools

    options = mcp_tools.CheckOptions(_manifest(args, console), tuple(args.target), args.timeout,
                                     tuple(args.env_file), tuple(args.engine))
    view = _view(args, console)
    return _reported(view, lambda: mcp_tools.check(options, view))


def connect(args: argparse.Namespace, console: Console) -> int:
    from ..app import mcp_tools

    options = mcp_tools.ConnectOptions(_manifest(args, console), args.tunnel, args.client, args.reveal,
                                       tuple(args.env_file), tuple(args.engine), write=args.write is not None,
                                       file=Path(args.write) if args.write else None)
    view = _view(args, console)
    return _reported(view, lambda: mcp_tools.connect(options, view))


def validate(args: argparse.Namespace, console: Console) -> int:
    from ..app import manifest_tools

    manifests = args.files or [_manifest(args, console)]
    options = manifest_tools.ValidateOptions(manifests, tuple(args.env_file), args.strict, args.ignore_missing_env)
    view = _view(args, console)
    return _reported(view, lambda: manifest_tools.validate(options, view))


def init(args: argparse.Namespace, console: Console) -> int:
    from ..app import manifest_tools

    return manifest_tools.init(args.file or Path("tunnels.yaml"), HumanView(console))


def schema(args: argparse.Namespace, console: Console) -> int:
    from ..app import manifest_tools

    return manifest_tools.schema(args.write, HumanView(console))


def gen_key(args: argparse.Namespace, console: Console) -> int:
    from ..app import manifest_tools

    HumanView(console).secret_output(manifest_tools.new_access_key(args.bytes))
    return EXIT_OK


def shell_completion(args: argparse.Namespace, console: Console) -> int:
    HumanView(console).say(completion.shell_code(args.shell).rstrip("\n"))
    return EXIT_OK


def _moment(text: str) -> float:
    """--since: a time ago (30s, 10m, 2h, 1d) or an ISO date and time (UTC unless it says), as seconds since the
    epoch."""
    import re
    import time
    from datetime import datetime

    ago = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if ago:
        return time.time() - int(ago[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[ago[2]]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"--since takes a time ago (30s, 10m, 2h, 1d) or a date and time (2026-12-06T03:00:00), "
                        f"not {text!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _whole_number(text: str, option: str) -> int:
    if not text.isdigit():
        raise UserError(f"{option} takes a whole number or 'all', not {text!r}")
    return int(text)


COMMANDS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    "validate": validate, "init": init, "completion": shell_completion, "gen-key": gen_key, "schema": schema,
    "plan": plan, "apply": apply, "destroy": destroy, "status": status, "doctor": doctor, "check": check,
    "connect": connect, "logs": logs,
}
