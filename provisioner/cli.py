"""The `tunnelctl` command: parse arguments, run one pipeline, print through a redacting console.

Heavy libraries (docker, jsonschema, jinja2, yaml) are imported inside the commands that need them, so that
`tunnelctl --help` starts as fast as Python itself.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from . import __version__, completion
from .client_config import CLIENTS
from .errors import ManifestError, UserError
from .output import Console

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_DEGRADED, EXIT_LOCKED = 0, 1, 2, 3, 4

EPILOG = """exit codes:
  0  success, or no changes
  1  error (invalid manifest, Docker unreachable, a failed action, a blocked tunnel, a failed check)
  2  changes present (plan --detailed-exitcode only)
  3  some tunnel of the manifest is not up at Pinggy (status only; up with its local server
     not listening counts as up)
  4  another apply or destroy of the project holds the lock (apply, destroy)

environment:
  TUNNELCTL_FILE                                     the manifest when -f is not given (see -f)
  DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH   the Docker engine to use (default: the local socket)
  DOCKER_API_VERSION                                 the Docker API version to speak (default: 1.41)
  TUNNELCTL_EDGE=http=HOST:PORT,https=HOST:PORT      check: send public URLs there (the stand-in's edge)
  TUNNELCTL_DEBUG=1                                  show a traceback on internal errors
"""


class _Parser(argparse.ArgumentParser):
    """Usage mistakes exit 1 with one line: exit 2 means "changes present" to scripts using --detailed-exitcode."""

    def error(self, message: str):
        self.exit(EXIT_ERROR, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tunnelctl", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Keep the Pinggy tunnels declared in a YAML manifest running as Docker containers.")
    parser.add_argument("--version", action="version", version=f"tunnelctl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help_text: str, manifest: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        if manifest:
            sub.add_argument("-f", "--file", type=Path, metavar="FILE",
                             help="the manifest (default: $TUNNELCTL_FILE, else ./tunnels.yaml, else "
                                  "$XDG_CONFIG_HOME/tunnelctl/tunnels.yaml, by default ~/.config/…)")
            _completes(completion.engine_names, sub.add_argument(
                "--engine", action="append", default=[], metavar="NAME",
                help="only this engine of the manifest's engines (repeatable)"))
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
    shells = command("completion", run_completion, "print the shell code that completes tunnelctl's commands and "
                     "tunnel names (eval it in your shell's start-up file)", manifest=False)
    shells.add_argument("shell", choices=completion.SHELLS, help="bash, zsh or fish")
    gen_key = command("gen-key", run_gen_key, "print a strong random access key", manifest=False)
    gen_key.add_argument("--bytes", type=int, default=32, metavar="N",
                         help="random bytes in the key (default: 32, printed as 64 hex characters)")
    schema = command("schema", run_schema, "print the manifest's JSON Schema (as editors use it: templates allowed)",
                     manifest=False)
    schema.add_argument("--write", nargs="?", type=Path, const=Path("tunnels.schema.json"), metavar="FILE",
                        help="write it to FILE (default: tunnels.schema.json) for editors, to commit beside the "
                             "manifest")

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
    _completes(completion.tunnel_names, destroy.add_argument(
        "--target", action="append", default=[], metavar="NAME", help="only this tunnel's containers (repeatable)"))
    _add_lock_timeout(destroy)
    _add_parallelism(destroy)

    doctor = command("doctor", run_doctor, "check the manifest, engines, images, Pinggy servers and local ports, "
                                           "and say what to do about each problem")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")

    status = command("status", run_status, "show every tunnel's state, local target and public URLs")
    status.add_argument("--json", action="store_true", help="print the status as JSON")

    check = command("check", run_check, "prove that each tunnel works end to end: the local server answers (the MCP "
                    "handshake for MCP tunnels), the public URL answers with the key, and refuses a stranger")
    check.add_argument("--target", action="append", default=[], metavar="NAME", help="only this tunnel (repeatable)")
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.add_argument("--timeout", type=float, default=10, metavar="SECONDS",
                       help="how long to wait for each answer (default: 10)")

    connect = command("connect", run_connect, "print what an MCP client needs to reach a tunnel's MCP URL with its key")
    connect.add_argument("tunnel", metavar="NAME", help="the tunnel's name")
    connect.add_argument("--client", required=True, choices=CLIENTS, help="the MCP client")
    connect.add_argument("--reveal", action="store_true",
                         help="write the key itself instead of a reference to it (the output is then a secret)")

    logs = command("logs", run_logs, "show a tunnel's output, secrets masked and spinner frames collapsed")
    _completes(completion.tunnel_names, logs.add_argument("tunnel", metavar="NAME", help="the tunnel's name"))
    logs.add_argument("--follow", action="store_true", help="keep printing new output")
    logs.add_argument("--tail", default="1000", metavar="N",
                      help="only the last N lines, or 'all' that Docker kept (default: 1000)")
    return parser


def _completes(names, action: argparse.Action) -> None:
    """Tell argcomplete (which reads this attribute) how to complete the option's value."""
    action.completer = names  # type: ignore[attr-defined]


def _add_scope(parser: argparse.ArgumentParser) -> None:
    _completes(completion.tunnel_names, parser.add_argument(
        "--target", action="append", default=[], metavar="NAME",
        help="only this tunnel (repeatable); for exceptional use, the manifest stays the truth"))
    _completes(completion.tunnel_names, parser.add_argument(
        "--replace", action="append", default=[], metavar="NAME",
        help="recreate this tunnel even if it matches (repeatable)"))
    parser.add_argument("--pull", action="store_true",
                        help="pull the images first; tunnels whose image changed are recreated")


def _add_lock_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lock-timeout", type=float, default=0, metavar="SECONDS",
                        help="wait this long for another apply or destroy of the project to finish (default: 0)")


def _add_parallelism(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parallelism", type=int, default=8, metavar="N",
                        help="how many containers to change at once (default: 8)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    completion.enable(parser)
    args = parser.parse_args(argv)
    console = Console()
    try:
        _locate_manifest(args, console)
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


def _locate_manifest(args, console: Console) -> None:
    """Without -f, find the manifest the dotfiles way, and say where it was found unless it is ./tunnels.yaml."""
    from .locate import find_manifest

    if getattr(args, "file", Path()) is not None or getattr(args, "plan_file", None) or getattr(args, "files", None):
        return  # named on the command line, or not needed (a saved plan names its manifest)
    if args.command == "init":
        args.file = Path("tunnels.yaml")
        return
    located = find_manifest()
    if located.source:
        console.error(f"Using the manifest {located.path} (found through {located.source}; -f FILE names another).")
    args.file = located.path


def _report(console: Console, error: UserError) -> None:
    if isinstance(error, ManifestError):
        console.hide(error.secrets)
    for line in error.details:
        console.error(line)
    console.error(f"error: {error.message}")


# Why a command cannot do without the secrets, said beside each one that is not set; read-only commands load without.
PLAN_NEEDS_SECRETS = ("plan compares a hash of each secret with the running container's and cannot without its "
                      "value; status, logs and destroy need no secrets")
APPLY_NEEDS_SECRETS = "apply sends it to Pinggy; status, logs and destroy need no secrets"


def _load(args, console: Console, show_warnings: bool = True, need_secrets: bool | str = True):
    from . import manifest

    loaded = manifest.load(args.file, env_files=args.env_file, need_secrets=need_secrets)
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
        warnings = len(loaded.warnings)
        warned = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        console.print(f"{path}: valid; project '{loaded.project}', {count} tunnel{'s' if count != 1 else ''}{warned}.")
    return EXIT_ERROR if failed else EXIT_OK


def run_init(args, console: Console) -> int:
    from importlib import resources

    from .schema import MODELINE, SCHEMA_FILE, schema_text

    if args.file.exists():
        raise UserError(f"{args.file} already exists; nothing was written (edit it, or name another file with -f)")
    starter = resources.files("provisioner").joinpath("starter.yaml").read_text(encoding="utf-8")
    rest = starter.partition("\n")[2]  # its first line is replaced by the modeline
    _write_new(args.file, MODELINE + "\n" + rest)
    schema_file = args.file.parent / SCHEMA_FILE
    if not schema_file.exists():
        _write_new(schema_file, schema_text())
        wrote = f"Wrote {args.file} and {schema_file} (for editors; commit both)."
    elif schema_file.read_text(encoding="utf-8", errors="replace") != schema_text():
        wrote = f"Wrote {args.file}; {schema_file} is another version's: refresh it with tunnelctl schema --write."
    else:
        wrote = f"Wrote {args.file}."
    console.print(f"{wrote} Set PINGGY_TOKEN and FIGMA_ACCESS_KEY (tunnelctl gen-key makes a key), "
                  "then run tunnelctl plan.")
    return EXIT_OK


def _write_new(path: Path, text: str) -> None:
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise UserError(f"{path}: cannot write it: {error.strerror}") from None


def run_completion(args, console: Console) -> int:
    console.print(completion.shell_code(args.shell).rstrip("\n"))
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
    from .schema import MODELINE, schema_text

    if not args.write:
        console.print(schema_text().rstrip("\n"))
        return EXIT_OK
    try:
        args.write.write_text(schema_text(), encoding="utf-8")
    except OSError as error:
        raise UserError(f"{args.write}: cannot write it: {error.strerror}") from None
    console.print(f"Wrote {args.write}. Manifests beside it start with: {MODELINE}")
    return EXIT_OK


@contextlib.contextmanager
def _fleet(args, console: Console, project: str, engine_configs, specs_for, *, targets=None, replace=None,
           removal_reason: str = "not in the manifest", lock: bool = False, known_tunnels=()):
    """Open the engines, lock them if asked (in one order, so that two runs cannot deadlock), and plan each.

    The plan is used inside the locks. With the environment's single engine, an unreachable engine is a plain error.
    """
    from .converge import open_engines, prepare
    from .engine import Engine
    from .errors import EngineError

    engines = open_engines(engine_configs, args.engine)
    with contextlib.ExitStack() as locks:
        if lock:
            for engine in sorted((e for e in engines.values() if isinstance(e, Engine)), key=lambda e: e.endpoint):
                locks.enter_context(_locked(args, console, engine, project))
        fleet = prepare(project, engines, specs_for, targets=args.target if targets is None else targets,
                        replace=getattr(args, "replace", []) if replace is None else replace,
                        pull=getattr(args, "pull", False), removal_reason=removal_reason, known_tunnels=known_tunnels)
        if fleet.single and fleet.unreachable:
            raise EngineError(fleet.unreachable[0].error)
        for failure in fleet.pull_failures:
            console.error(f"error: {failure}")
        yield fleet


def _unreachable(console: Console, fleet) -> bool:
    """Say once per engine that it could not be reached; return whether any could not."""
    for part in fleet.unreachable:
        console.error(f"error: engine '{part.name}': {part.error}")
    return bool(fleet.unreachable)


def _manifest_fleet(args, console: Console, loaded, **options):
    from .specs import engine_specs

    return _fleet(args, console, loaded.project, loaded.engines, engine_specs(loaded),
                  known_tunnels=[tunnel.name for tunnel in loaded.tunnels], **options)


def run_plan(args, console: Console) -> int:
    from . import report, savedplan

    loaded = _load(args, console, need_secrets=PLAN_NEEDS_SECRETS)
    with _manifest_fleet(args, console, loaded) as fleet:
        document = report.plan_json(fleet)
        console.print(document if args.json else report.plan_text(fleet))
        failed = _unreachable(console, fleet)
        if args.out:
            savedplan.save(args.out, fleet, args.file, args.target, args.replace, args.engine, document)
            console.print(f"\nSaved the plan to {args.out}; carry it out with: tunnelctl apply {args.out}")
        if fleet.conflicts or fleet.pull_failures or failed:
            return EXIT_ERROR
        return EXIT_CHANGES if args.detailed_exitcode and fleet.has_changes else EXIT_OK


def run_apply(args, console: Console) -> int:
    from . import savedplan

    saved = savedplan.read(args.plan_file) if args.plan_file else None
    options = {}
    if saved:
        args.file, args.engine = saved.manifest, list(saved.engines)
        options = {"targets": saved.targets, "replace": saved.replace}
        args.auto_approve = True  # the saved plan is what was reviewed
    loaded = _load(args, console, show_warnings=False, need_secrets=APPLY_NEEDS_SECRETS)
    with _manifest_fleet(args, console, loaded, lock=True, **options) as fleet:
        if saved:
            savedplan.check_fresh(saved, fleet, args.plan_file)
        if fleet.has_changes:
            _warn(console, loaded)
        code = _carry_out(args, console, fleet, "Apply these changes?")
        return EXIT_ERROR if fleet.pull_failures or fleet.unreachable else code


def run_destroy(args, console: Console) -> int:
    from . import manifest
    from .planner import REMOVE

    project, engines = manifest.load_scope(args.file, env_files=args.env_file)
    with _fleet(args, console, project, engines, lambda name, kind: [], removal_reason="destroy", lock=True) as fleet:
        code = _carry_out(args, console, fleet, f"Remove these containers of project '{project}'?",
                          verb="Destroy", kinds=(REMOVE,))
        return EXIT_ERROR if fleet.unreachable else code


def _locked(args, console: Console, engine, project: str):
    from .locking import project_lock

    return project_lock(engine.endpoint, project, args.lock_timeout,
                        on_takeover=lambda holder: console.error(f"note: taking over the lock left by {holder}"))


def _carry_out(args, console: Console, fleet, question: str, verb: str = "Apply",
               kinds: tuple[str, ...] = ("create", "recreate", "remove")) -> int:
    from . import report
    from .executor import execute_fleet

    console.print(report.plan_text(fleet))
    failed = _unreachable(console, fleet)
    if not fleet.has_changes:
        return EXIT_ERROR if fleet.conflicts or failed else EXIT_OK
    if not args.auto_approve and not _confirmed(console, question):
        return EXIT_ERROR
    console.print("")
    waiting = not getattr(args, "no_wait", True)
    outcomes = execute_fleet(fleet, lambda outcome: console.print(report.outcome_line(outcome, not fleet.single)),
                             args.parallelism, wait_timeout=args.timeout if waiting else None)
    console.print(report.apply_summary(verb, outcomes, kinds))
    failed = any(outcome.failed for outcome in outcomes)
    if not waiting:
        return EXIT_ERROR if failed else EXIT_OK
    engines = {part.name: part.engine for part in fleet.reachable}
    down = False
    for name, engine in engines.items():
        started = [o for o in outcomes if not o.failed and o.container_id and o.engine == name]
        down = _wait_until_up(args, console, engine, fleet.project, started) or down
    return EXIT_ERROR if down or failed else EXIT_OK


def _wait_until_up(args, console: Console, engine, project: str, started) -> bool:
    """Wait for the started tunnels; print a table; return whether any failed to come up."""
    from . import report
    from .readiness import FAILED, Target, wait_until_up

    if not started:
        return False
    targets = [Target(outcome.action.tunnel, outcome.container_id, outcome.action.creates.local_host,
                      outcome.action.creates.local_port, outcome.action.creates.network) for outcome in started]
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


def run_doctor(args, console: Console) -> int:
    from . import doctor

    diagnosis = doctor.diagnose(args.file, args.env_file, args.engine)
    console.hide(diagnosis.secrets)
    console.print(doctor.as_json(diagnosis) if args.json else doctor.as_text(diagnosis))
    return EXIT_OK if diagnosis.healthy else EXIT_ERROR


def run_status(args, console: Console) -> int:
    from . import report, status

    loaded = _load(args, console, show_warnings=False, need_secrets=False)
    items, failures = status.gather_manifest(loaded, args.engine)
    grouped = len(loaded.engines) > 1
    console.hide(secret for item in items for secret in item.command_secrets)  # tokens the manifest could not tell
    console.print(report.status_json(loaded.project, items) if args.json
                  else report.status_text(loaded.project, items, grouped))
    for failure in failures:
        console.error(failure)
    if failures:
        return EXIT_ERROR
    return EXIT_OK if all(item.healthy for item in items if item.in_manifest) else EXIT_DEGRADED


def run_check(args, console: Console) -> int:
    from . import status, tunnel_check
    from .mcp_protocol import edge_addresses

    loaded = _load(args, console, show_warnings=False, need_secrets=False)
    tunnels = [tunnel for tunnel in _targeted(loaded, args.target) if not args.engine or tunnel.engine in args.engine]
    try:
        edge = edge_addresses()
    except ValueError as error:
        raise UserError(str(error)) from None
    if not 0 < args.timeout <= 600:
        raise UserError(f"--timeout {args.timeout:g} is out of range: give seconds above 0, at most 600")
    items, failures = status.gather_manifest(loaded, args.engine)
    console.hide(secret for item in items for secret in item.command_secrets)
    results = tunnel_check.check_all(args.file, tunnels, items, args.timeout, edge)
    console.print(tunnel_check.check_json(loaded.project, results) if args.json
                  else tunnel_check.check_text(loaded.project, results))
    for failure in failures:
        console.error(failure)
    return EXIT_OK if not failures and all(result.passed for result in results) else EXIT_ERROR


def run_connect(args, console: Console) -> int:
    from . import client_config, status
    from .mcp_protocol import mcp_path

    loaded = _load(args, console, show_warnings=False, need_secrets=False)
    (tunnel,) = _targeted(loaded, [args.tunnel])
    if not mcp_path(tunnel.settings):
        raise UserError(f"tunnel '{tunnel.name}' is not an MCP tunnel: add `mcp: true` to it in {args.file} "
                        "(or `mcp: {path: /other}`)")
    items, failures = status.gather_manifest(loaded, args.engine)
    console.hide(secret for item in items for secret in item.command_secrets)
    item = next((item for item in items if item.tunnel == tunnel.name and item.in_manifest), None)
    if item is None or not item.mcp_url:
        for failure in failures:
            console.error(failure)
        state = item.state if item else "unknown"
        raise UserError(f"tunnel '{tunnel.name}' has no public URL (state: {state}): run tunnelctl apply, then "
                        "tunnelctl status")
    credential = client_config.credential(args.file, tunnel.name, tunnel.settings)
    text, notes = client_config.render(args.client, tunnel.name, item.mcp_url, credential, args.reveal)
    for note in notes:
        console.error(f"note: {note}")
    if args.reveal:
        print(text)  # the key was asked for: not through the redacting console
    else:
        console.print(text)
    return EXIT_OK


def _targeted(loaded, names: list[str]):
    known = {tunnel.name for tunnel in loaded.tunnels}
    unknown = sorted(set(names) - known)
    if unknown:
        raise UserError(f"no tunnel named {', '.join(repr(name) for name in unknown)} in {loaded.path} "
                        f"(it has: {', '.join(sorted(known)) or 'none'})")
    return [tunnel for tunnel in loaded.tunnels if not names or tunnel.name in names]


def run_logs(args, console: Console) -> int:
    from .converge import open_engines
    from .engine import Engine, LogTail
    from .pinggy_output import collapse_frames
    from .specs import secrets_in_command

    loaded = _load(args, console, show_warnings=False, need_secrets=False)
    project = loaded.project
    found = None
    for engine in open_engines(loaded.engines, args.engine).values():
        if isinstance(engine, Engine):
            mine = [c for c in engine.observe(project).owned if c.tunnel == args.tunnel]
            inspected = engine.inspect([mine[0].id]) if mine else []
            if inspected:
                found = engine, inspected[0]
                break
    if found is None:
        raise UserError(f"tunnel '{args.tunnel}' has no container in project '{project}': "
                        "check the name (tunnelctl status lists them) or run tunnelctl apply")
    engine, details = found
    console.hide(secrets_in_command(details.command))  # the secrets that are not set here are in its arguments
    tail: LogTail = "all" if args.tail == "all" else _whole_number(args.tail, "--tail")
    output = engine.follow_logs(details.id, tail=tail) if args.follow else [engine.logs(details.id, tail=tail)]
    for line in collapse_frames(output):  # whole lines, so a secret split across chunks is still masked
        console.write(line)
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
