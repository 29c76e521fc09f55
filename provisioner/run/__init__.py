"""Carrying out a plan: the executor (`executor`), waiting until started tunnels are up (`readiness`), and the lock
that lets one apply or destroy run per engine and project at a time (`locking`)."""
