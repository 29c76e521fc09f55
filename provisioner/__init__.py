"""tunnelctl: Pinggy tunnels declared in YAML, converged on Docker."""

__version__ = "0.1.0"
