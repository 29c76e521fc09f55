"""The command line: every command, option and help text of `tunnelctl` (argparse), and nothing else."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__
from ..constants import DEFAULT_PARALLELISM, EXIT_ERROR, MCP_CLIENTS
from . import completion

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
  NO_COLOR=1, FORCE_COLOR=1                          no colours / colours even where output is not a terminal
                                                     (by default: colours on a terminal only; --no-color wins)
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

    def command(name: str, help_text: str, manifest: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--no-color", action="store_true",
                         help="no colours (also: NO_COLOR=1; FORCE_COLOR=1 forces them where output is not a terminal)")
        if manifest:
            sub.add_argument("-f", "--file", type=Path, metavar="FILE",
                             help="the manifest (default: $TUNNELCTL_FILE, else ./tunnels.yaml, else "
                                  "$XDG_CONFIG_HOME/tunnelctl/tunnels.yaml, by default ~/.config/…)")
            sub.add_argument("-q", "--quiet", action="store_true",
                             help="do not say which manifest is used when it is not ./tunnels.yaml")
            _completes(completion.engine_names, sub.add_argument(
                "--engine", action="append", default=[], metavar="NAME",
                help="only this engine of the manifest's engines (repeatable)"))
            sub.add_argument("--env-file", type=Path, action="append", default=[], metavar="FILE",
                             help="read variables for templates from this file too (repeatable; a .env beside the "
                                  "manifest is read first, the process environment wins)")
        return sub

    validate = command("validate", "check the manifest without touching Docker")
    validate.add_argument("files", nargs="*", type=Path, metavar="FILE",
                          help="manifests to check instead of -f (as a pre-commit hook passes them)")
    validate.add_argument("--strict", action="store_true", help="treat warnings as errors")
    _add_json(validate, "each manifest's verdict, warnings and errors")
    validate.add_argument("--ignore-missing-env", action="store_true",
                          help="do not fail on unset variables (for checks where the secrets are not set)")

    init = command("init", "write a commented starter manifest (never overwrites); -f FILE writes it there, making "
                           "its folders, e.g. ~/.config/tunnelctl/tunnels.yaml for dotfiles", manifest=False)
    init.add_argument("-f", "--file", type=Path, metavar="FILE", help="where to write it (default: ./tunnels.yaml)")
    shells = command("completion", "print the shell code that completes tunnelctl's commands and "
                     "tunnel names (eval it in your shell's start-up file)", manifest=False)
    shells.add_argument("shell", choices=completion.SHELLS, help="bash, zsh or fish")
    gen_key = command("gen-key", "print a strong random access key", manifest=False)
    gen_key.add_argument("--bytes", type=int, default=32, metavar="N",
                         help="random bytes in the key (default: 32, printed as 64 hex characters)")
    schema = command("schema", "print the manifest's JSON Schema (as editors use it: templates allowed)",
                     manifest=False)
    schema.add_argument("--write", nargs="?", type=Path, const=Path("tunnels.schema.json"), metavar="FILE",
                        help="write it to FILE (default: tunnels.schema.json) for editors, to commit beside the "
                             "manifest")

    plan = command("plan", "show what apply would change")
    _add_json(plan, "the plan")
    plan.add_argument("--detailed-exitcode", action="store_true",
                      help="exit 0 when converged, 2 when there are changes, 1 on error")
    plan.add_argument("--out", type=Path, metavar="FILE", help="save the plan for `tunnelctl apply FILE` (no secrets)")
    _add_scope(plan)

    apply = command("apply", "create, recreate and remove containers until they match the manifest")
    apply.add_argument("plan_file", nargs="?", type=Path, metavar="PLAN",
                       help="carry out exactly this saved plan (refused if the manifest or the engine changed since)")
    apply.add_argument("--auto-approve", action="store_true", help="apply without asking for confirmation")
    _add_json(apply, "the plan, what was done and how each tunnel came up (needs --auto-approve)")
    _add_scope(apply)
    _add_lock_timeout(apply)
    apply.add_argument("--no-wait", action="store_true",
                       help="do not wait for new tunnels to show their public URLs")
    apply.add_argument("--timeout", type=float, default=60, metavar="SECONDS",
                       help="how long to wait for new tunnels to come up (default: 60)")
    _add_parallelism(apply)

    destroy = command("destroy", "remove every container of the manifest's project")
    destroy.add_argument("--auto-approve", action="store_true", help="destroy without asking for confirmation")
    _completes(completion.tunnel_names, destroy.add_argument(
        "--target", action="append", default=[], metavar="NAME", help="only this tunnel's containers (repeatable)"))
    _add_lock_timeout(destroy)
    _add_parallelism(destroy)

    doctor = command("doctor", "check the manifest, engines, images, Pinggy servers and local ports, "
                               "and say what to do about each problem")
    _add_json(doctor, "the findings")

    status = command("status", "show every tunnel's state, local target and public URLs")
    _add_json(status, "the status")
    status.add_argument("--wide", action="store_true",
                        help="one row per tunnel with every column (URLs, MCP URL), however wide")
    status.add_argument("--watch", action="store_true",
                        help="show the status again every 2 seconds, redrawn in place, until Ctrl-C")

    check = command("check", "prove that each tunnel works end to end: the local server answers (the MCP "
                    "handshake for MCP tunnels), the public URL answers with the key, and refuses a stranger")
    check.add_argument("--target", action="append", default=[], metavar="NAME", help="only this tunnel (repeatable)")
    _add_json(check, "the results")
    check.add_argument("--timeout", type=float, default=10, metavar="SECONDS",
                       help="how long to wait for each answer (default: 10)")

    connect = command("connect", "print what an MCP client needs to reach a tunnel's MCP URL with its key")
    connect.add_argument("tunnel", metavar="NAME", help="the tunnel's name")
    connect.add_argument("--client", required=True, choices=MCP_CLIENTS, help="the MCP client")
    connect.add_argument("--reveal", action="store_true",
                         help="write the key itself instead of a reference to it (the output is then a secret)")
    connect.add_argument("--write", nargs="?", const="", default=None, metavar="FILE",
                         help="merge the entry into the client's own configuration file instead of printing it "
                              "(default: .cursor/mcp.json, .vscode/mcp.json, .mcp.json for Claude Code, Windsurf's "
                              "and Claude Desktop's user file); a backup of the old file is kept as FILE.bak, and "
                              "apply and status keep the entry pointed at the tunnel when its URL changes")
    _add_json(connect, "the tunnel's MCP URL and the client's configuration")

    logs = command("logs", "show a tunnel's output, or every tunnel's with a `name |` prefix, secrets masked and "
                           "spinner frames collapsed")
    _completes(completion.tunnel_names, logs.add_argument(
        "tunnel", nargs="?", metavar="NAME", help="the tunnel's name (default: every tunnel of the project)"))
    logs.add_argument("--follow", action="store_true", help="keep printing new output (Ctrl-C ends it)")
    logs.add_argument("-t", "--timestamps", action="store_true", help="start each line with the time it was written")
    logs.add_argument("--since", metavar="WHEN",
                      help="only output since WHEN: a time ago (30s, 10m, 2h, 1d) or a date and time (2026-12-06, "
                           "2026-12-06T03:00:00, UTC unless it says otherwise)")
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


def _add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true",
                        help=f"print {what} as one JSON document (its schema: schemas/output/ in the source; "
                             "`ok` says whether the command succeeded)")


def _add_lock_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lock-timeout", type=float, default=0, metavar="SECONDS",
                        help="wait this long for another apply or destroy of the project to finish (default: 0)")


def _add_parallelism(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parallelism", type=int, default=DEFAULT_PARALLELISM, metavar="N",
                        help=f"how many containers to change at once (default: {DEFAULT_PARALLELISM})")
