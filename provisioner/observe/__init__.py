"""Observing what runs: each tunnel's state and public URLs (`status`), reading what a Pinggy client printed
(`pinggy_output`), and looking at a tunnel's local side (`probe`)."""
