"""The `tunnelctl` command: parse arguments, run one pipeline, print through a redacting console.

Heavy libraries (docker, jsonschema, jinja2, yaml) are imported inside the commands that need them, so that
`tunnelctl --help` starts as fast as Python itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .errors import ManifestError, UserError
from .output import Console

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_DEGRADED, EXIT_LOCKED = 0, 1, 2, 3, 4

EPILOG = """exit codes:
  0  success, or no changes
  1  error (invalid manifest, Docker unreachable, a failed action, a blocked tunnel)
  2  changes present (plan --detailed-exitcode only)
  3  some tunnel of the manifest is not up (status only)
  4  another apply or destroy of the project holds the lock (apply, destroy)

environment:
  DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH   the Docker engine to use (default: the local socket)
  TUNNELCTL_DEBUG=1                                  show a traceback on internal errors
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunnelctl", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Keep the Pinggy tunnels declared in a YAML manifest running as Docker containers.")
    parser.add_argument("--version", action="version", version=f"tunnelctl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help_text: str, manifest: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        if manifest:
            sub.add_argument("-f", "--file", type=Path, default=Path("tunnels.yaml"), metavar="FILE",
                             help="the manifest (default: tunnels.yaml)")
            sub.add_argument("--env-file", type=Path, action="append", default=[], metavar="FILE",
                             help="read variables for templates from this file too (repeatable; a .env beside the "
                                  "manifest is read first, the process environment wins)")
        sub.set_defaults(handler=handler)
        return sub

    validate = command("validate", run_validate, "check the manifest without touching Docker")
    validate.add_argument("files", nargs="*", type=Path, metavar="FILE",
                          help="manifests to check instead of -f (as a pre-commit hook passes them)")
    validate.add_argument("--strict", action="store_true", help="treat warnings as errors")
    validate.add_argument("--ignore-missing-env", action="store_true",
                          help="do not fail on unset variables (for checks where the secrets are not set)")

    init = command("init", run_init, "write a commented starter manifest (never overwrites)")
    init.set_defaults(env_file=[])
    gen_key = command("gen-key", run_gen_key, "print a strong random access key", manifest=False)
    gen_key.add_argument("--bytes", type=int, default=32, metavar="N",
                         help="random bytes in the key (default: 32, printed as 64 hex characters)")
    command("schema", run_schema, "print the manifest's JSON Schema", manifest=False)

    plan = command("plan", run_plan, "show what apply would change")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument("--detailed-exitcode", action="store_true",
                      help="exit 0 when converged, 2 when there are changes, 1 on error")
    plan.add_argument("--out", type=Path, metavar="FILE", help="save the plan for `tunnelctl apply FILE` (no secrets)")
    _add_scope(plan)

    apply = command("apply", run_apply, "create, recreate and remove containers until they match the manifest")
    apply.add_argument("plan_file", nargs="?", type=Path, metavar="PLAN",
                       help="carry out exactly this saved plan (refused if the manifest or the engine changed since)")
    apply.add_argument("--auto-approve", action="store_true", help="apply without asking for confirmation")
    _add_scope(apply)
    _add_lock_timeout(apply)
    apply.add_argument("--no-wait", action="store_true",
                       help="do not wait for new tunnels to show their public URLs")
    apply.add_argument("--timeout", type=float, default=60, metavar="SECONDS",
                       help="how long to wait for new tunnels to come up (default: 60)")
    _add_parallelism(apply)

    destroy = command("destroy", run_destroy, "remove every container of the manifest's project")
    destroy.add_argument("--auto-approve", action="store_true", help="destroy without asking for confirmation")
    destroy.add_argument("--target", action="append", default=[], metavar="NAME",
                         help="only this tunnel's containers (repeatable)")
    _add_lock_timeout(destroy)
    _add_parallelism(destroy)

    status = command("status", run_status, "show every tunnel's state, local target and public URLs")
    status.add_argument("--json", action="store_true", help="print the status as JSON")

    logs = command("logs", run_logs, "show a tunnel's output, secrets masked")
    logs.add_argument("tunnel", metavar="NAME", help="the tunnel's name")
    logs.add_argument("--follow", action="store_true", help="keep printing new output")
    logs.add_argument("--tail", default="all", metavar="N", help="only the last N lines (default: all)")
    return parser


def _add_scope(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", action="append", default=[], metavar="NAME",
                        help="only this tunnel (repeatable); for exceptional use, the manifest stays the truth")
    parser.add_argument("--replace", action="append", default=[], metavar="NAME",
                        help="recreate this tunnel even if it matches (repeatable)")
    parser.add_argument("--pull", action="store_true",
                        help="pull the images first; tunnels whose image changed are recreated")


def _add_lock_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lock-timeout", type=float, default=0, metavar="SECONDS",
                        help="wait this long for another apply or destroy of the project to finish (default: 0)")


def _add_parallelism(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parallelism", type=int, default=8, metavar="N",
                        help="how many containers to change at once (default: 8)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        return args.handler(args, console)
    except UserError as error:
        _report(console, error)
        return getattr(error, "exit_code", EXIT_ERROR)
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as error:
        if os.environ.get("TUNNELCTL_DEBUG"):
            raise
        console.error(f"internal error: {type(error).__name__}: {error} (this is a tunnelctl bug; "
                      "rerun with TUNNELCTL_DEBUG=1 for a traceback and report it)")
        return EXIT_ERROR


def _report(console: Console, error: UserError) -> None:
    if isinstance(error, ManifestError):
        console.hide(error.secrets)
    for line in error.details:
        console.error(line)
    console.error(f"error: {error.message}")


def _load(args, console: Console, show_warnings: bool = True):
    from . import manifest

    loaded = manifest.load(args.file, env_files=args.env_file)
    console.hide(loaded.secrets)
    if show_warnings:
        _warn(console, loaded)
    return loaded


def _warn(console: Console, loaded) -> None:
    for line in loaded.warnings:
        console.error(line)


def run_validate(args, console: Console) -> int:
    from . import manifest

    failed = 0
    for path in args.files or [args.file]:
        try:
            loaded = manifest.load(path, env_files=args.env_file, strict=args.strict,
                                   ignore_missing_env=args.ignore_missing_env)
        except UserError as error:
            failed += 1
            _report(console, error)
            continue
        console.hide(loaded.secrets)
        _warn(console, loaded)
        count = len(loaded.tunnels)
        warned = f", {len(loaded.warnings)} warning{'s' if len(loaded.warnings) != 1 else ''}" if loaded.warnings else ""
        console.print(f"{path}: valid; project '{loaded.project}', {count} tunnel{'s' if count != 1 else ''}{warned}.")
    return EXIT_ERROR if failed else EXIT_OK


def run_init(args, console: Console) -> int:
    from importlib import resources

    from .schema import schema_path

    if args.file.exists():
        raise UserError(f"{args.file} already exists; nothing was written (edit it, or name another file with -f)")
    starter = resources.files("provisioner").joinpath("starter.yaml").read_text(encoding="utf-8")
    first, _, rest = starter.partition("\n")
    modeline = f"# yaml-language-server: $schema={schema_path().as_uri()}"
    try:
        with args.file.open("x", encoding="utf-8") as handle:
            handle.write(modeline + "\n" + rest)
    except OSError as error:
        raise UserError(f"{args.file}: cannot write it: {error.strerror}") from None
    console.print(f"Wrote {args.file}. Set PINGGY_TOKEN and FIGMA_ACCESS_KEY (tunnelctl gen-key makes a key), "
                  "then run tunnelctl plan.")
    return EXIT_OK


def run_gen_key(args, console: Console) -> int:
    import secrets

    if args.bytes < 16:
        raise UserError(f"--bytes {args.bytes} is too weak: an access key needs at least 16 bytes (128 bits)")
    if args.bytes > 1024:
        raise UserError(f"--bytes {args.bytes} is more than anyone needs: at most 1024")
    print(secrets.token_hex(args.bytes))  # the one output that is meant to be a secret: not through the console
    return EXIT_OK


def run_schema(args, console: Console) -> int:
    from .schema import schema_text

    console.print(schema_text().rstrip("\n"))
    return EXIT_OK


def _prepare(args, loaded, engine, targets=None, replace=None):
    from .converge import prepare
    from .specs import desired_specs

    return prepare(engine, loaded.project, desired_specs(loaded), targets=args.target if targets is None else targets,
                   replace=args.replace if replace is None else replace, pull=args.pull)


def run_plan(args, console: Console) -> int:
    from . import report, savedplan
    from .engine import Engine

    loaded = _load(args, console)
    engine = Engine()
    prepared = _prepare(args, loaded, engine)
    _pull_failures(console, prepared)
    document = report.plan_json(prepared.plan)
    console.print(document if args.json else report.plan_text(prepared.plan))
    if args.out:
        savedplan.save(args.out, prepared, args.file, engine.endpoint, args.target, args.replace, document)
        console.print(f"\nSaved the plan to {args.out}; carry it out with: tunnelctl apply {args.out}")
    if prepared.plan.conflicts or prepared.pull_failures:
        return EXIT_ERROR
    return EXIT_CHANGES if args.detailed_exitcode and prepared.plan.has_changes else EXIT_OK


def run_apply(args, console: Console) -> int:
    from . import savedplan
    from .engine import Engine

    saved = savedplan.read(args.plan_file) if args.plan_file else None
    if saved:
        args.file = saved.manifest
    loaded = _load(args, console, show_warnings=False)
    engine = Engine()
    with _locked(args, console, engine, loaded.project):
        if saved:
            prepared = _prepare(args, loaded, engine, saved.targets, saved.replace)
            savedplan.check_fresh(saved, prepared, engine.endpoint, args.plan_file)
            args.auto_approve = True  # the saved plan is what was reviewed
        else:
            prepared = _prepare(args, loaded, engine)
        _pull_failures(console, prepared)
        if prepared.plan.has_changes:
            _warn(console, loaded)
        code = _carry_out(args, console, engine, prepared.plan, "Apply these changes?")
    return EXIT_ERROR if prepared.pull_failures else code


def run_destroy(args, console: Console) -> int:
    from . import manifest
    from .converge import prepare
    from .engine import Engine
    from .planner import REMOVE

    project = manifest.load_project(args.file, env_files=args.env_file)
    engine = Engine()
    with _locked(args, console, engine, project):
        prepared = prepare(engine, project, [], targets=args.target, removal_reason="destroy")
        return _carry_out(args, console, engine, prepared.plan, f"Remove these containers of project '{project}'?",
                          verb="Destroy", kinds=(REMOVE,))


def _locked(args, console: Console, engine, project: str):
    from .locking import project_lock

    return project_lock(engine.endpoint, project, args.lock_timeout,
                        on_takeover=lambda holder: console.error(f"note: taking over the lock left by {holder}"))


def _pull_failures(console: Console, prepared) -> None:
    for failure in prepared.pull_failures:
        console.error(f"error: {failure}")


def _carry_out(args, console: Console, engine, plan, question: str, verb: str = "Apply",
               kinds: tuple[str, ...] = ("create", "recreate", "remove")) -> int:
    from . import report
    from .executor import execute

    console.print(report.plan_text(plan))
    if not plan.has_changes:
        return EXIT_ERROR if plan.conflicts else EXIT_OK
    if not args.auto_approve and not _confirmed(console, question):
        return EXIT_ERROR
    console.print("")
    waiting = not getattr(args, "no_wait", True)
    outcomes = execute(plan, engine, lambda outcome: console.print(report.outcome_line(outcome)), args.parallelism,
                       wait_timeout=args.timeout if waiting else None)
    console.print(report.apply_summary(verb, outcomes, kinds))
    failed = any(outcome.failed for outcome in outcomes)
    if not waiting:
        return EXIT_ERROR if failed else EXIT_OK
    started = [outcome for outcome in outcomes if not outcome.failed and outcome.container_id]
    return EXIT_ERROR if _wait_until_up(args, console, engine, plan.project, started) or failed else EXIT_OK


def _wait_until_up(args, console: Console, engine, project: str, started) -> bool:
    """Wait for the started tunnels; print a table; return whether any failed to come up."""
    from . import report
    from .readiness import FAILED, Target, wait_until_up

    if not started:
        return False
    targets = [Target(outcome.action.tunnel, outcome.container_id, outcome.action.spec.local_host,
                      outcome.action.spec.local_port) for outcome in started]
    console.print("")
    results = wait_until_up(engine, project, targets, args.timeout, _Progress(console))
    console.print("")
    console.print(report.readiness_table(results))
    return any(result.state == FAILED for result in results)


class _Progress:
    """Live per-tunnel lines on a terminal; elsewhere one plain line per tunnel once it is up or has failed."""

    def __init__(self, console: Console):
        self.console = console
        self.drawn = 0
        self.reported: set[str] = set()

    def __call__(self, results) -> None:
        from . import report
        from .readiness import STARTING

        if self.console.live:
            cursor_up = f"\x1b[{self.drawn}A" if self.drawn else ""
            self.console.print(cursor_up + "\n".join("\x1b[2K" + report.readiness_line(r) for r in results))
            self.drawn = len(results)
            return
        for result in results:
            if result.state != STARTING and result.tunnel not in self.reported:
                self.reported.add(result.tunnel)
                self.console.print(report.readiness_line(result))


def run_status(args, console: Console) -> int:
    from . import report, status
    from .engine import Engine

    loaded = _load(args, console, show_warnings=False)
    items = status.gather(Engine(), loaded)
    console.print(report.status_json(loaded.project, items) if args.json else report.status_text(loaded.project, items))
    wanted = [item for item in items if item.in_manifest]
    return EXIT_OK if all(item.healthy for item in wanted) else EXIT_DEGRADED


def run_logs(args, console: Console) -> int:
    from . import manifest
    from .engine import Engine
    from .specs import secrets_in_command

    try:
        loaded = manifest.load(args.file, env_files=args.env_file)
        project = loaded.project
        console.hide(loaded.secrets)
    except ManifestError:  # logs must work where the secrets are not set: the container's own argv names them
        project = manifest.load_project(args.file, env_files=args.env_file)
    engine = Engine()
    mine = [container for container in engine.observe(project, []).owned if container.tunnel == args.tunnel]
    if not mine:
        raise UserError(f"tunnel '{args.tunnel}' has no container in project '{project}': "
                        "check the name (tunnelctl status lists them) or run tunnelctl apply")
    [details] = engine.inspect([mine[0].id]) or [None]
    if details is None:
        raise UserError(f"the container of tunnel '{args.tunnel}' disappeared; run tunnelctl status")
    console.hide(secrets_in_command(details.command))
    tail = args.tail if args.tail == "all" else _whole_number(args.tail, "--tail")
    if not args.follow:
        console.write(engine.logs(details.id, tail=tail))
        return EXIT_OK
    pending = ""
    for chunk in engine.follow_logs(details.id, tail=tail):
        pending += chunk
        complete, _, pending = pending.rpartition("\n")
        if complete:  # mask whole lines only, so a secret split across chunks is still caught
            console.write(complete + "\n")
    console.write(pending)
    return EXIT_OK


def _whole_number(text: str, option: str) -> int:
    if not text.isdigit():
        raise UserError(f"{option} takes a whole number or 'all', not {text!r}")
    return int(text)


def _confirmed(console: Console, question: str) -> bool:
    if not console.interactive:
        raise UserError("these changes need confirmation, but standard input is not a terminal: "
                        "rerun with --auto-approve to proceed without asking")
    console.print(f"\n{question} Only 'yes' will be accepted.")
    try:
        answer = input("Enter a value: ")
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        console.error("Cancelled: nothing was changed.")
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
