"""How Docker (and Podman's Docker API) is told what a ContainerSpec says in engine-neutral terms: the host
config's arguments for the hardening, the json-file log driver's options for the log bounds.

Pure data, no docker-py: desired/specs.py computes the spec hash over these same forms, so that every container made
since container layout 3 keeps its hash (desired/labels.py: bump SPEC_FORMAT when they change).
"""

from __future__ import annotations

from typing import Any

from ..desired.model import Hardening, LogBounds


def hardening_arguments(hardening: Hardening) -> dict[str, Any]:
    """docker-py's create_host_config keyword arguments."""
    return {
        "cap_drop": ["ALL"] if hardening.drop_all_capabilities else [],
        "security_opt": ["no-new-privileges:true"] if hardening.no_new_privileges else [],
        "pids_limit": hardening.max_processes,
        "read_only": hardening.read_only_root,
        "tmpfs": {scratch.path: f"rw,nosuid,nodev,noexec,size={scratch.size},mode={scratch.mode}"
                  for scratch in hardening.scratch},
        "init": hardening.init_process,
    }


def log_driver_options(bounds: LogBounds) -> dict[str, str]:
    """The json-file driver's rotation options."""
    return {"max-size": bounds.max_size, "max-file": str(bounds.max_files)}
