"""Errors a user can cause and fix: the CLI prints each as one line and exits 1."""


class UserError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""

    def __init__(self, message: str, *, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class ManifestError(UserError):
    """The manifest cannot be used; `details` holds one `file:line:col: path: message` line per problem."""

    def __init__(self, problems: list[str], secrets: frozenset[str] = frozenset()):
        count = sum(1 for problem in problems if ": warning: " not in problem)
        super().__init__(f"the manifest has {count} error{'s' if count != 1 else ''}; nothing was changed",
                         details=problems)
        self.secrets = secrets  # so the CLI can blank them out of anything it prints


class EngineError(UserError):
    """The Docker engine could not be reached or refused a request."""
