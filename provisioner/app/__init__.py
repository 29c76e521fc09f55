"""One application function per command: what the command does, apart from parsing arguments (cli/) and drawing
output (the views in cli/views.py). Each takes typed options and a view, and returns the exit code.

    changes.py         plan, apply, destroy (locks, plan, confirm, execute, wait)
    running.py         status, logs, doctor (running it and handing its diagnosis to the view)
    doctor.py          what doctor checks, in the order a tunnel depends on them
    manifest_tools.py  validate, init, schema, gen-key
    mcp_tools.py       check, connect
"""
