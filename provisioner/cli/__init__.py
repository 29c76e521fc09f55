"""The `tunnelctl` command: parse the arguments (parser.py), turn them into one command's typed options and pick
its view once (commands.py), call the command's application function (app/), and make whatever it raises one
line and an exit code.

Heavy libraries (docker, jsonschema, jinja2) are imported inside the commands that need them, so that
`tunnelctl --help` starts as fast as Python itself.
"""

from __future__ import annotations

import os
import sys

from ..constants import EXIT_ERROR, EXIT_INTERRUPTED
from ..errors import UserError
from . import completion
from .console import Console
from .parser import build_parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    completion.enable(parser)
    args = parser.parse_args(argv)  # --help and usage mistakes end here, before anything heavy is imported
    console = Console(no_colour=getattr(args, "no_color", False))
    from .commands import COMMANDS
    from .views import HumanView

    try:
        return COMMANDS[args.command](args, console)
    except UserError as error:
        HumanView(console).problem(error)
        return getattr(error, "exit_code", EXIT_ERROR)
    except KeyboardInterrupt:
        console.error(console.paint_error("interrupted", "red"))
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as error:
        if os.environ.get("TUNNELCTL_DEBUG"):
            raise
        console.error(f"internal error: {type(error).__name__}: {error} (this is a tunnelctl bug; "
                      "rerun with TUNNELCTL_DEBUG=1 for a traceback and report it)")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
