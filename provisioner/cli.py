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

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2

EPILOG = """exit codes:
  0  success, or no changes
  1  error (invalid manifest, Docker unreachable, a failed action, a blocked tunnel)
  2  changes present (plan --detailed-exitcode only)

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

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("-f", "--file", type=Path, default=Path("tunnels.yaml"), metavar="FILE",
                         help="the manifest (default: tunnels.yaml)")
        sub.set_defaults(handler=handler)
        return sub

    command("validate", run_validate, "check the manifest without touching Docker")

    plan = command("plan", run_plan, "show what apply would change")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument("--detailed-exitcode", action="store_true",
                      help="exit 0 when converged, 2 when there are changes, 1 on error")

    apply = command("apply", run_apply, "create, recreate and remove containers until they match the manifest")
    apply.add_argument("--auto-approve", action="store_true", help="apply without asking for confirmation")
    _add_parallelism(apply)

    destroy = command("destroy", run_destroy, "remove every container of the manifest's project")
    destroy.add_argument("--auto-approve", action="store_true", help="destroy without asking for confirmation")
    _add_parallelism(destroy)
    return parser


def _add_parallelism(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parallelism", type=int, default=8, metavar="N",
                        help="how many containers to change at once (default: 8)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        return args.handler(args, console)
    except UserError as error:
        if isinstance(error, ManifestError):
            console.hide(error.secrets)
        for line in error.details:
            console.error(line)
        console.error(f"error: {error.message}")
        return EXIT_ERROR
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


def _load(args, console: Console):
    from . import manifest

    loaded = manifest.load(args.file)
    console.hide(loaded.secrets)
    return loaded


def _plan(loaded):
    from .engine import Engine
    from .planner import plan
    from .specs import desired_specs

    specs = desired_specs(loaded)
    engine = Engine()
    observed = engine.observe(loaded.project, [spec.container_name for spec in specs])
    return engine, plan(loaded.project, specs, observed)


def run_validate(args, console: Console) -> int:
    loaded = _load(args, console)
    count = len(loaded.tunnels)
    console.print(f"{args.file}: valid; project '{loaded.project}', {count} tunnel{'s' if count != 1 else ''}.")
    return EXIT_OK


def run_plan(args, console: Console) -> int:
    from . import report

    _, plan = _plan(_load(args, console))
    console.print(report.plan_json(plan) if args.json else report.plan_text(plan))
    if plan.conflicts:
        return EXIT_ERROR
    return EXIT_CHANGES if args.detailed_exitcode and plan.has_changes else EXIT_OK


def run_apply(args, console: Console) -> int:
    engine, plan = _plan(_load(args, console))
    return _carry_out(args, console, engine, plan, "Apply these changes?")


def run_destroy(args, console: Console) -> int:
    from . import manifest
    from .engine import Engine
    from .planner import plan

    project = manifest.load_project(args.file)
    engine = Engine()
    destroy_plan = plan(project, [], engine.observe(project, []), removal_reason="destroy")
    return _carry_out(args, console, engine, destroy_plan, f"Remove every container of project '{project}'?",
                      verb="Destroy")


def _carry_out(args, console: Console, engine, plan, question: str, verb: str = "Apply") -> int:
    from . import report
    from .executor import execute

    console.print(report.plan_text(plan))
    if not plan.has_changes:
        return EXIT_ERROR if plan.conflicts else EXIT_OK
    if not args.auto_approve and not _confirmed(console, question):
        return EXIT_ERROR
    console.print("")
    outcomes = execute(plan, engine, lambda outcome: console.print(report.outcome_line(outcome)), args.parallelism)
    console.print(report.apply_summary(verb, outcomes))
    return EXIT_ERROR if any(outcome.failed for outcome in outcomes) else EXIT_OK


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
