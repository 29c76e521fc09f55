"""A real MCP server for the tests and the demo: the official Python SDK (PyPI `mcp`) over streamable HTTP.

    python3 tests/support/mcp_server.py PORT [--name NAME] [--json] [--legacy] [--path /mcp]

It binds 127.0.0.1, so the SDK's DNS-rebinding protection is on: any Host but 127.0.0.1:*, localhost:* or
[::1]:* gets 421, as Figma's Dev Mode server and every SDK-built server do. `--json` answers initialize as
JSON instead of an SSE stream; `--legacy` answers `server/discover` like servers of the initialize era
(SDK 1.x: 400, no session), so that clients must fall back to `initialize`.
"""

from __future__ import annotations

import argparse
import json

from mcp.server.mcpserver import MCPServer


def legacy_only(app):
    """ASGI wrapper: refuse the per-request-envelope era as an SDK 1.x server does (400, JSON-RPC error)."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if headers.get(b"mcp-protocol-version", b"").startswith(b"2026"):
                body = json.dumps({"jsonrpc": "2.0", "id": "server-error", "error": {
                    "code": -32600, "message": "Bad Request: Missing session ID"}}).encode()
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--name", default="tunnelctl-test-mcp")
    parser.add_argument("--path", default="/mcp")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--legacy", action="store_true")
    args = parser.parse_args()

    server = MCPServer(name=args.name, version="1.4.2")

    @server.tool()
    def echo(text: str) -> str:
        """Say it back."""
        return text

    import uvicorn

    app = server.streamable_http_app(streamable_http_path=args.path, json_response=args.json, host="127.0.0.1")
    uvicorn.run(legacy_only(app) if args.legacy else app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
