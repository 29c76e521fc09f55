"""MCP: just enough of the protocol to prove a server answers (`protocol`), the end-to-end tunnel check (`check`),
and what each MCP client needs to reach a tunnel (`client_config`)."""
