"""`tunnelctl doctor`: what a new user runs when something is off. It checks, in the order a tunnel depends on them,
the manifest, each engine, each image, each Pinggy server and each local port, and says what to do about each
failure. Nothing is created, pulled or logged into.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import manifest as manifest_front
from ..engine import Engine, registry
from ..engine.registry import Opener
from ..errors import EngineError, ManifestError, UserError
from ..observe import probe

OK, FAIL, WARN, SKIP = "ok", "fail", "warn", "skip"  # only FAIL fails the run
MANIFEST, ENGINES, IMAGES, SERVERS, PORTS = "Manifest", "Engines", "Images", "Pinggy servers", "Local ports"
SECTIONS = (MANIFEST, ENGINES, IMAGES, SERVERS, PORTS)
SERVER_TIMEOUT = 5.0


@dataclass(frozen=True)
class Finding:
    section: str
    subject: str
    status: str
    message: str  # what was found and, for a failure, what to do about it


@dataclass(frozen=True)
class Diagnosis:
    manifest: Path
    findings: tuple[Finding, ...]
    secrets: frozenset[str] = frozenset()  # for the console to blank out

    @property
    def healthy(self) -> bool:
        return all(finding.status != FAIL for finding in self.findings)


def diagnose(path: Path, env_files: Sequence[Path] = (), selected: Iterable[str] = (),
             open_engines: Opener = registry.open_engines) -> Diagnosis:
    findings: list[Finding] = []
    hidden: set[str] = set()  # secrets the manifest's problem lines may hold, even when it cannot be loaded
    loaded = _check_manifest(path, env_files, findings, hidden)
    if loaded is None:
        findings += [Finding(section, "", SKIP, "not checked: the manifest must load first")
                     for section in SECTIONS[1:]]
        return Diagnosis(path, tuple(findings), frozenset(hidden))
    engines = _check_engines(loaded, selected, findings, open_engines)
    _check_images(loaded, engines, findings)
    _check_servers(loaded, engines, findings)
    _check_ports(loaded, engines, findings)
    return Diagnosis(path, tuple(findings), loaded.secrets | hidden)


def _check_manifest(path: Path, env_files: Sequence[Path], findings: list[Finding], hidden: set[str]):
    def add(subject: str, status: str, message: str) -> None:
        findings.append(Finding(MANIFEST, subject, status, message))

    loaded = None
    try:
        loaded = manifest_front.load(path, env_files=env_files)
    except ManifestError as error:  # each problem on its own line, which already says where and how to fix it
        hidden.update(error.secrets)
        for line in error.details:
            add("", WARN if ": warning: " in line else FAIL, line)
    except UserError as error:  # no such file, not UTF-8, an unreadable env file…
        add(str(path), FAIL, error.message)
        return None
    else:
        count = len(loaded.tunnels)
        add(str(path), OK, f"valid, every variable set; project '{loaded.project}', {count} "
                           f"tunnel{'s' if count != 1 else ''}")
        for line in loaded.warnings:
            add("", WARN, line)
    beside = path.resolve().parent / ".env"
    if beside.is_file():
        add(".env", OK, f"read {beside} (the process environment wins over it)")
    else:
        add(".env", OK, f"none beside the manifest ({beside}); variables come from the process environment")
    for env_file in env_files:
        add(str(env_file), OK, "read (--env-file)")
    if loaded is None:  # go on with what the manifest says, so that the other checks still run
        try:
            loaded = manifest_front.load(path, env_files=env_files, ignore_missing_env=True)
        except UserError:
            return None
    return loaded


def _check_engines(loaded, selected: Iterable[str], findings: list[Finding],
                   open_engines: Opener) -> dict[str, Engine]:
    from ..engine import Unreachable

    engines: dict[str, Engine] = {}
    for name, engine in open_engines(loaded.engines, list(selected)).items():
        if isinstance(engine, Unreachable):
            findings.append(Finding(ENGINES, name, FAIL, engine.error))
            continue
        try:
            version, kind = engine.version(), engine.kind
        except EngineError as error:
            findings.append(Finding(ENGINES, name, FAIL, error.message))
            continue
        findings.append(Finding(ENGINES, name, OK, f"{kind.label} at {engine.where}; it speaks API "
                                                   f"{version.min_api} to {version.api}, tunnelctl uses "
                                                   f"{version.used}"))
        findings += [Finding(ENGINES, name, WARN, note) for note in kind.notes]
        engines[name] = engine
    return engines


def _check_images(loaded, engines: dict[str, Engine], findings: list[Finding]) -> None:
    for name, image in sorted({(tunnel.engine, tunnel.settings.image) for tunnel in loaded.tunnels}):
        subject, engine = f"{image} on {name}", engines.get(name)
        if engine is None:
            findings.append(Finding(IMAGES, subject, SKIP, f"engine '{name}' could not be checked"))
        elif _templated(image):
            findings.append(Finding(IMAGES, subject, SKIP, "its variables are not set"))
        else:
            findings.append(Finding(IMAGES, subject, *_image_verdict(engine, image)))


def _image_verdict(engine: Engine, image: str) -> tuple[str, str]:
    try:
        if engine.has_image(image):
            return OK, "present"
    except EngineError as error:
        return FAIL, error.message
    try:
        asked = engine.check_pullable(image)
    except EngineError as error:
        return FAIL, f"not present, and {error.message}"
    if not asked:
        return WARN, (f"not present, and this engine cannot ask a registry without pulling: apply pulls it (to "
                      f"check now: docker pull {image})")
    return OK, "not present; its registry has it (apply pulls it)"


def _check_servers(loaded, engines: dict[str, Engine], findings: list[Finding]) -> None:
    from ..desired.specs import server_name

    servers: dict[tuple[str, int], list[str]] = {}
    for tunnel in loaded.tunnels:
        host, port = server_name(tunnel.settings), tunnel.settings.server_port
        if _templated(host) or not isinstance(port, int):
            findings.append(Finding(SERVERS, tunnel.name, SKIP, "the server's variables are not set"))
            continue
        servers.setdefault((host, port), []).append(tunnel.engine)
    for (host, port), engine_names in sorted(servers.items()):
        remote = sorted({name for name in engine_names if name in engines and not engines[name].is_local})
        elsewhere = (f" (checked from this machine; tunnels on {', '.join(remote)} connect from that engine's)"
                     if remote else "")
        findings.append(Finding(SERVERS, f"{host}:{port}", *_server_verdict(host, port, elsewhere)))


def _server_verdict(host: str, port: int, elsewhere: str) -> tuple[str, str]:
    try:
        banner = probe.ssh_banner(host, port, SERVER_TIMEOUT)
    except socket.gaierror:
        return FAIL, (f"this machine cannot resolve {host}: check `server:`/`region:` in the manifest, or the "
                      "network (offline, VPN, DNS)")
    except TimeoutError:
        return FAIL, (f"no answer within {SERVER_TIMEOUT:g} s: a firewall or proxy may block outgoing connections "
                      f"to port {port}")
    except ConnectionRefusedError:
        return FAIL, f"{host} refuses connections on port {port}: check `server_port:`"
    except OSError as error:
        return FAIL, f"cannot connect: {error.strerror or error}; check the network"
    shown = "".join(char for char in banner[:80] if char.isprintable())  # a stranger's text, kept inert
    if not banner:
        return FAIL, (f"connected, but no SSH server spoke within {SERVER_TIMEOUT:g} s: a proxy or firewall may "
                      f"intercept port {port}")
    if not banner.startswith("SSH-"):
        return FAIL, (f"something that is not an SSH server answered ({shown!r}): a proxy or captive portal may "
                      f"intercept port {port}")
    return OK, f"an SSH server answers ({shown}){elsewhere}"


def _check_ports(loaded, engines: dict[str, Engine], findings: list[Finding]) -> None:
    from ..desired.specs import HOST_NETWORK, network_mode
    from ..observe.conditions import local_side

    for tunnel in loaded.tunnels:
        host, port = tunnel.settings.host, tunnel.settings.port
        subject = f"{tunnel.name} → {host}:{port}"
        engine = engines.get(tunnel.engine)
        if engine is None:
            findings.append(Finding(PORTS, subject, SKIP, f"engine '{tunnel.engine}' could not be checked"))
            continue
        if _templated(host) or not isinstance(port, int):
            findings.append(Finding(PORTS, subject, SKIP, "its variables are not set"))
            continue
        try:
            network = network_mode(tunnel.settings, engine.kind) if tunnel.settings.network else HOST_NETWORK
            listening, why = local_side(engine, network, host, port)
        except EngineError as error:
            findings.append(Finding(PORTS, subject, FAIL, error.message))
            continue
        if listening:
            findings.append(Finding(PORTS, subject, OK, "something listens there"))
        elif listening is False:
            findings.append(Finding(PORTS, subject, FAIL, (why or "nothing listens there") + ": start the local "
                                    "server (apply still creates the tunnel; it serves once the server is up)"))
        else:
            findings.append(Finding(PORTS, subject, SKIP, why or f"engine '{tunnel.engine}' is on another machine: "
                                                                "run tunnelctl doctor there"))


def _templated(value) -> bool:
    """A value left as written because its variables are not set."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)
