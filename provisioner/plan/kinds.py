"""What a plan does about a tunnel, in a module of its own: showing a plan's words (cli/render.py) needs these names,
not the planner, which the commands that only read (status, logs) then never load."""

from __future__ import annotations

from enum import StrEnum


class ActionKind(StrEnum):
    """What a plan does about a tunnel; the values are what `plan --json` and saved plans say."""

    CREATE = "create"
    RECREATE = "recreate"
    REMOVE = "remove"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    MOVE = "move"  # not planned on one engine: a CREATE and a REMOVE of one tunnel on two engines (find_moves)


CREATE, RECREATE, REMOVE, UNCHANGED, CONFLICT, MOVE = ActionKind  # in the order they are defined above

CHANGE_KINDS = (CREATE, RECREATE, REMOVE)
