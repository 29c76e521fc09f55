"""Who else of ours holds a tunnel's token: another tunnelctl container on the same engine (of this project or any
other) that runs with the same token. Pinggy keeps one live session per token, so while that one holds it the tunnel
cannot log in, and Pinggy's CLI may never say so (libpinggy 0.1.7's daemon dies right after a refused login, and the
CLI then only redraws its spinner).

Tokens are compared by the digests every container carries in its labels (labels.SETTING_DIGESTS), never in clear;
what reaches output names the other tunnel, its project and its container, never the token or a digest. The
comparison is itself computed from the token, so it is made only for a trusted manifest: a pull request's manifest
could otherwise learn whether a token it guessed is another project's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ..desired.model import ObservedContainer
from ..engine import Engine
from .pinggy_output import RECENT_ENTRIES, read_session

TOKEN = "token"  # the setting whose digest is compared


@dataclass(frozen=True)
class TokenHolder:
    tunnel: str
    project: str
    container: str  # its name
    holds_session: bool  # it is up at Pinggy, by its output
    same_project: bool

    def problem(self) -> str:
        """Why the tunnel that shares the token is not up, naming the holder only."""
        whose = f"tunnel '{self.tunnel}'" + ("" if self.same_project else f" of project '{self.project}'")
        held = ("which holds the session" if self.holds_session
                else "which is logging in with it too, so at most one of them can be up")
        return (f"its token is also used by {whose} (container {self.container}), {held}: Pinggy keeps one session "
                "per token; stop that tunnel, give this one its own token, or set `force: true` to take the token "
                "over")


def token_digest(digests: dict[str, str], force: bool | None) -> str:
    """What to compare a tunnel's token by: its digest, or "" when there is nothing to compare (no token, or `force`,
    which takes the session over rather than waiting for it)."""
    return "" if force else digests.get(TOKEN, "")


class TokenHolders:
    """Every live container of ours on an engine, by its token's digest: one list call, each label read once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_token: dict[str, list[ObservedContainer]] = defaultdict(list)
        for container in engine.observe(None).owned:
            if container.alive and (digest := container.setting_digests.get(TOKEN)):
                self.by_token[digest].append(container)

    def holder(self, project: str, container_id: str, digest: str) -> TokenHolder | None:
        """The other live container that runs with the token of `digest`, preferring one that is up at Pinggy (by
        its output); None when there is none."""
        holders = [TokenHolder(container.tunnel, container.project, container.name,
                               container.state == "running" and bool(read_session(
                                   self.engine.logs(container.id, tail=RECENT_ENTRIES)).urls),
                               container.project == project)
                   for container in self.by_token.get(digest, ()) if container.id != container_id]
        return max(holders, key=lambda holder: holder.holds_session, default=None)
