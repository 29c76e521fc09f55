"""A tunnel's settings as one typed value, so that a misspelt setting is a mypy error, not a silent None."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Settings:
    """Every setting of one tunnel, resolved: built-in defaults < manifest defaults < the tunnel's own. Holds secrets:
    never printed. A field the schema gives a default is always set (the loader merges the schema's defaults, which
    are not repeated here); None is a setting the manifest leaves out. With `need_secrets=False` or
    `--ignore-missing-env`, a value whose variables are unset is still its template text."""

    port: int
    container_name: str
    host: str
    type: str
    server_port: int
    force: bool
    https_only: bool
    forwarded_for: bool | str
    full_url: bool
    reverse_proxy: bool
    pass_preflight: bool
    mcp: bool | Mapping[str, str]
    local_tls: bool | str
    keepalive: int
    image: str
    log_rotation: Mapping[str, Any]
    restart: str
    network: str | None = None
    client: str | None = None  # None: what the image's name implies (domain_checks.tunnel_client)
    token: str | None = None
    server: str | None = None
    region: str | None = None
    domains: Sequence[str] | None = None  # Pinggy's domain forwardings
    access_keys: Sequence[str] | None = None
    basic_auth: Sequence[Mapping[str, str]] | None = None
    allow_cidrs: Sequence[str] | None = None
    ssh_options: Mapping[str, Any] | None = None
    headers: Mapping[str, Any] | None = None
    debugger_port: int | None = None
    labels: Mapping[str, str] | None = None

    def given(self) -> dict[str, Any]:
        """The settings as the manifest resolved them, by name: what the setting digests are made of."""
        return {field.name: value for field in fields(self) if (value := getattr(self, field.name)) is not None}

    def value(self, field: str) -> Any:
        """One setting by its manifest name (for what walks the option table); None when it is left out."""
        return getattr(self, field)

    @classmethod
    def of(cls, resolved: Mapping[str, Any]) -> Settings:
        return cls(**resolved)
