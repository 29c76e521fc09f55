"""Numbers and names that several modules must agree on."""

# Exit codes (documented in `tunnelctl --help`).
EXIT_OK = 0
EXIT_ERROR = 1  # an invalid manifest, an unreachable engine, a failed action, a blocked tunnel, a usage mistake
EXIT_CHANGES = 2  # plan --detailed-exitcode: there are changes
EXIT_DEGRADED = 3  # status: some tunnel of the manifest is not up
EXIT_LOCKED = 4  # apply, destroy: another run holds the project's lock
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

DEFAULT_PARALLELISM = 8  # containers changed, inspected or probed at once
JSON_FORMAT_VERSION = 2  # of every --json document (2: one verdict field, `ok`, in every document)

# The MCP clients `tunnelctl connect --client` writes a configuration for (the parser offers them before anything
# heavy is imported; mcp/client_config.py writes each one).
MCP_CLIENTS = ("claude-code", "cursor", "vscode", "windsurf", "claude-desktop", "json")
