"""The Docker adapter: the one module that talks to the engine. Everything else sees plain data classes."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from .. import pause_points
from ..desired import labels
from ..desired.model import ContainerDetails, ContainerSpec, Observation, ObservedContainer
from ..errors import EngineError
from . import EngineVersion, LogTail, login_file, loopback, platforms, takeover_form
from . import errors as engine_errors
from .config import (
    BUILT_IN_NETWORKS,
    DOCKER_SOCKET,
    ENVIRONMENT_ENGINE,
    EngineConfig,
    discover,
    local_sockets,
    sends_registry_login,
)
from .connection import client_settings, origin, plain_settings
from .docker_form import hardening_arguments, log_driver_options
from .raw_api import ApiRefusal, DockerPyReads, EngineReads, raw_reads_for

# Pinned so that docker-py does not spend a round-trip asking the engine for its version on every run; the docker
# CLI's DOCKER_API_VERSION overrides it for an engine that speaks another range (Docker 29 needs at least 1.44).
API_VERSION = "1.41"
DEFAULT_ENDPOINT = "unix://" + DOCKER_SOCKET
# How long a tunnel client gets to quit cleanly (ssh answers SIGTERM at once) before it is killed: a client that
# says goodbye lets the server free its token at once, instead of the next login being refused meanwhile. Also set
# on every container, so that a user's own `docker stop` behaves the same.
STOP_GRACE_SECONDS = 3


class DockerEngine:
    """The Engine protocol over the Docker API, for one engine of the manifest: reads with the standard library where
    it can reach the engine (raw_api.py), everything else with docker-py."""

    def __init__(self, config: EngineConfig | None = None, environ: Mapping[str, str] | None = None):
        self.config = config or EngineConfig(ENVIRONMENT_ENGINE)
        self.name = self.config.name
        environ = os.environ if environ is None else environ
        self.origin, self.hint, self.setting = origin(self.config, environ)
        self.endpoint = self.config.docker or environ.get("DOCKER_HOST") or DEFAULT_ENDPOINT
        self.api_version = environ.get("DOCKER_API_VERSION") or API_VERSION
        self._version_pinned_by_user = "DOCKER_API_VERSION" in environ
        self._api: Any = None
        # None: docker-py sends the login it finds for the registry; {}: an anonymous request
        self._registry_login: dict | None = None if sends_registry_login(self.config, environ) else {}
        with self._opening():
            settings = plain_settings(self.config, environ)
            if settings is None:  # a context, TLS or ssh://: only docker-py knows how
                settings = client_settings(self.config, environ)
            if not settings.get("base_url"):  # nothing names an engine: the first local socket that answers
                settings["base_url"] = discover(local_sockets(environ))
            self._settings = settings
            self.endpoint = settings["base_url"]
            raw = None if settings.get("tls") else raw_reads_for(self.endpoint, self.api_version)
            # docker-py's client (an ssh:// one connects right here) is made only when reads need it, else on the
            # first write: a plan or status that changes nothing never imports docker-py.
            self.reads: EngineReads = raw or DockerPyReads(self.api, self._errors)
        self._pull_locks: dict[str, threading.Lock] = {}
        self._pull_locks_guard = threading.Lock()
        # container id → its relay containers (loopback.py), for every container this instance listed or made: so
        # that starting or removing one needs no list call (apply and destroy observe before they change anything)
        self._known_relays: dict[str, list[str]] = {}
        self._image_users: dict[str, str] = {}  # image → the user it runs as (its login file's owner)

    @property
    def api(self) -> Any:
        """docker-py's client, made on first use: by one thread, the others waiting (importing docker-py from several
        threads at once fails on its partly initialised modules)."""
        with _DOCKER_PY:
            if self._api is None:
                _import_docker_py()
                import docker

                with self._opening():
                    self._api = docker.APIClient(version=self.api_version, **self._settings)
            return self._api

    @property
    def _errors(self) -> Any:
        with _DOCKER_PY:
            return _import_docker_py().errors

    @contextlib.contextmanager
    def _opening(self) -> Iterator[None]:
        """Making the client: what fails here (a bad URL, a refused ssh login) is the engine's one-line error."""
        try:
            yield
        except Exception as error:
            docker = sys.modules.get("docker")
            known = (OSError,) + ((docker.errors.DockerException,) if docker else ()) + _ssh_errors()
            if not isinstance(error, known):
                raise
            raise EngineError(f"cannot use the Docker engine {self.where}: {error}; {self.hint}") from None

    @property
    def where(self) -> str:
        return f"{self.endpoint} ({self.origin})"

    @contextlib.contextmanager
    def _call(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            message = self._failure(error, what)
            if message is None:
                raise
            raise EngineError(message) from None

    def _failure(self, error: Exception, what: str) -> str | None:
        """One line for what went wrong talking to the engine, whichever client talked; None for anything else."""
        docker = sys.modules.get("docker")
        if isinstance(error, ApiRefusal) or (docker and isinstance(error, docker.errors.APIError)):
            # first: docker-py's refusals are requests' HTTPErrors, and so OSErrors, too
            explanation = error.explanation if isinstance(error, ApiRefusal) else str(error.explanation or error)
            return engine_errors.refused(explanation, self.endpoint, what, self.api_version,
                                         self._version_pinned_by_user)
        if isinstance(error, OSError):  # requests' failures are OSErrors too
            return engine_errors.unreachable(error, self.where, what, self.hint, self.setting)
        if (docker and isinstance(error, docker.errors.DockerException)) or isinstance(error, _ssh_errors()):
            return f"cannot reach the Docker engine at {self.where} while {what}: {error}; {self.hint}"
        return None

    renames = True

    @property
    def is_local(self) -> bool:
        """Whether the engine's host network is this machine's, so that its local ports can be probed from here."""
        return self.endpoint.startswith(("unix://", "http+unix://", "npipe://", "tcp://127.", "tcp://localhost",
                                         "http://127.", "http://localhost"))

    @functools.cached_property
    def kind(self) -> platforms.EngineKind:
        """Docker, rootless Docker, Podman or Docker Desktop, from the engine's own description (one request)."""
        with self._call("reading the engine's description"):
            return platforms.describe(self.reads.info())

    def observe(self, project: str | None, wanted_names: Iterable[str] = (), images: Iterable[str] = (),
                networks: Iterable[str] = (), owned: tuple[ObservedContainer, ...] | None = None) -> Observation:
        """One list call for the project's containers, whatever their number (none when given them); then a name
        lookup only when wanted names are not the project's, one image lookup per distinct image (to see a tag
        move), and one list of networks when tunnels join user-defined ones."""
        if owned is None:
            owned = self.list_owned(project)
        held = {container.name for container in owned}
        missing = sorted(set(wanted_names) - held)
        foreign = {}
        if missing:
            with self._call("listing containers"):
                # Docker matches the filter against "/NAME", Podman against "NAME" (tests/test_engine_contract.py)
                rows = self.reads.containers({"name": [f"^/?{name.replace('.', '[.]')}$" for name in missing]})
            foreign = {_name(row): _describe_holder(row) for row in rows if _name(row) in missing}
        return Observation(owned, foreign, self._image_ids(set(images)), self._missing_networks(set(networks)))

    def list_owned(self, project: str | None) -> tuple[ObservedContainer, ...]:
        with self._call("listing containers"):
            rows = self.reads.containers({"label": labels.ownership_filter(project)})
        serving = {row["Id"]: (row.get("Labels") or {}).get(loopback.RELAY_FOR) for row in rows}
        relays: dict[str, list[str]] = {container: [] for container in serving}
        for relay, served in serving.items():
            if served and served in serving:
                relays[served].append(relay)
        self._known_relays.update(relays)
        # a relay goes with its tunnel container (loopback.py); one whose tunnel container is gone is a leftover
        states = {row["Id"]: row.get("State", "") for row in rows}
        return tuple(_observed(row, [states[relay] for relay in relays[row["Id"]]])
                     for row in rows if serving[row["Id"]] not in serving)

    def _missing_networks(self, wanted: set[str]) -> frozenset[str]:
        wanted -= BUILT_IN_NETWORKS
        if not wanted:
            return frozenset()
        with self._call("listing networks"):
            present = {row.get("Name") for row in self.api.networks()}
        return frozenset(wanted - present)

    def address_in_network(self, network: str, name: str) -> str | None:
        """The address on `network` of the container called `name` there (its name, or an alias such as a Compose
        service name); None when no container of that network answers to it."""
        with self._call(f"inspecting network {network}"):
            try:
                members = self.api.inspect_network(network).get("Containers") or {}
            except self._errors.NotFound:
                return None
            for container_id in members:
                try:
                    info = self.api.inspect_container(container_id)
                except self._errors.NotFound:
                    continue
                attachment = ((info.get("NetworkSettings") or {}).get("Networks") or {}).get(network) or {}
                names = {info.get("Name", "").lstrip("/"), *(attachment.get("Aliases") or ()),
                         *(attachment.get("DNSNames") or ())}
                if name in names and attachment.get("IPAddress"):
                    return attachment["IPAddress"]
        return None

    def version(self) -> EngineVersion:
        """The API versions the engine speaks, after one request at the API version tunnelctl speaks (so that a
        version the engine does not speak, like a socket that cannot be opened, is the same error here as
        everywhere)."""
        with self._call("asking for its version"):
            self.api.ping()
            document = self.api.version(api_version=False)
        return EngineVersion(str(document.get("ApiVersion") or "?"), str(document.get("MinAPIVersion") or "?"),
                             self.api_version)

    def has_image(self, image: str) -> bool:
        with self._call(f"inspecting image {image}"):
            try:
                self.api.inspect_image(image)
            except self._errors.ImageNotFound:
                return False
        return True

    def check_pullable(self, image: str) -> bool:
        """Ask the image's registry for it, as a pull would, without pulling; raise EngineError saying why not.
        False when the engine cannot ask without pulling (Podman has no distribution endpoint)."""
        with self._registry_call(image, f"asking the registry for image {image}"):
            try:
                self.api.inspect_distribution(image, auth_config=self._registry_login)
            except self._errors.NotFound as error:
                content_type = error.response.headers.get("Content-Type") if error.response is not None else None
                if "json" not in (content_type or ""):
                    return False  # a route the engine lacks, not a registry's answer (which is JSON)
                raise
        return True

    def _image_ids(self, images: set[str]) -> dict[str, str]:
        found = {}
        for image in sorted(images):
            with self._call(f"inspecting image {image}"):
                details = self.reads.inspect_image(image)
            if details is not None:  # else not pulled yet: creating a container will pull it
                found[image] = details["Id"]
        return found

    def create(self, spec: ContainerSpec, start: bool = True) -> str:
        """Create the container and start it unless told not to; return its id. Pulls the image when the engine
        lacks it. A spec with `loopback_relay` gets its relay container too (loopback.py), made right after it; one
        with a token its login file (login_file.py), written before it first starts."""
        return self._make(spec, start, spec.container_name, spec.restart_policy, spec.login_user)

    def create_takeover(self, spec: ContainerSpec, start: bool = True) -> str:
        """A container whose first login says +force and that Docker does not start again (restart policy `no`),
        under its takeover name (label TAKEOVER_NAME) until commit_takeover."""
        made, login_user = takeover_form(spec, self.kind)
        name = spec.container_name + login_file.TAKEOVER_SUFFIX
        return self._make(made, start, name, "no", login_user, {labels.TAKEOVER_NAME: name})

    def commit_takeover(self, container_id: str, spec: ContainerSpec) -> None:
        """The file first and the name last: killed in between, the container keeps its takeover name and the next
        plan removes it, whatever it was given already."""
        with self._call(f"committing the takeover of container {container_id[:12]}"):
            if spec.login_user:
                self._write_login(container_id, spec.image, login_file.contents(spec.login_user, None))
                pause_points.reached("takeover-login-rewritten")
            self.api.update_container(container_id, restart_policy={"Name": spec.restart_policy})
            pause_points.reached("takeover-restart-policy-set")
            self.api.rename(container_id, spec.container_name)

    def login_user(self, container_id: str) -> str | None:
        with self._call(f"reading the login file of container {container_id[:12]}"):
            data = self.reads.archive(container_id, login_file.FOLDER)
        text = login_file.file_in_archive(data) if data else None
        return login_file.user_in(text) if text else None

    def _write_login(self, container_id: str, image: str, files: Mapping[str, str]) -> None:
        """An archive PUT into the container's login volume (a created container's too), owned by the user its image
        runs as: ssh runs as that user, and nobody else need read the token."""
        if image not in self._image_users:
            self._image_users[image] = str(((self.reads.inspect_image(image) or {}).get("Config") or {}).get("User")
                                           or "")
        image_user = self._image_users[image]
        passwd = None
        name = image_user.partition(":")[0]
        if name and not name.isdigit():  # a name to look up; none (root, most images) or a uid needs no read
            data = self.reads.archive(container_id, "/etc/passwd")
            passwd = login_file.file_in_archive(data) if data else None
        uid = login_file.uid_of(image_user, passwd)
        if uid is None:
            raise EngineError(f"image {image} runs as user '{image_user}', whom its /etc/passwd does not name")
        self.api.put_archive(container_id, login_file.FOLDER, login_file.archive(files, uid))

    def _make(self, spec: ContainerSpec, start: bool, name: str, restart_policy: str, login_user: str | None,
              extra_labels: Mapping[str, str] | None = None) -> str:
        what = f"creating container '{name}'"
        with self._call(what):
            api = self.api
            from docker.types import DriverConfig, LogConfig, Mount

            def host_config(network: str, **extra: Any) -> dict:
                return api.create_host_config(
                    network_mode=network, restart_policy={"Name": restart_policy},
                    # Bounded logs: a CLI that reconnects for days redraws its spinner every 80 ms.
                    log_config=LogConfig(type="json-file", config=log_driver_options(spec.log_bounds)),
                    **hardening_arguments(spec.hardening), **extra)

            ports = {f"{inside}/tcp": (address, port) for address, port, inside in spec.published}
            tags = {**spec.labels, **spec.annotations, **(extra_labels or {})}
            login = login_file.contents(login_user, spec.cli_config)
            # disk-backed and anonymous: the login file outlives restarts and goes with the container
            mounts = [Mount(login_file.FOLDER, None, type="volume")] if login else []
            if not spec.loopback_relay:
                try:
                    created = self._create(spec, name, tags, host_config(spec.network, port_bindings=ports,
                                                                         mounts=mounts))
                except self._errors.ImageNotFound:
                    self.pull(spec.image)
                    created = self._create(spec, name, tags, host_config(spec.network, port_bindings=ports,
                                                                         mounts=mounts))
                container_id = created["Id"]
                self._known_relays[container_id] = []
                if login:
                    try:
                        self._write_login(container_id, spec.image, login)
                    except Exception:
                        self.remove(container_id)
                        raise
            else:
                entrypoint = self._entrypoint(spec.image)
                where = (spec.local_host, spec.local_port)
                socket_folder = Mount(loopback.SOCKET_FOLDER, None, type="volume",  # anonymous: removed with it
                                      driver_config=DriverConfig("local", loopback.SOCKET_VOLUME_OPTIONS))
                # a takeover's marker folder: disk-backed and anonymous, it outlives restarts and goes with it
                marks = [Mount(loopback.TAKEOVER_FOLDER, None, type="volume")] if loopback.takes_over(spec) else []
                tunnel_config = host_config(spec.network, port_bindings=ports,
                                            mounts=[socket_folder, *marks, *mounts])
                container_id = self._create(spec, name, tags, tunnel_config,
                                            entrypoint=loopback.launcher_entrypoint(entrypoint, *where))["Id"]
                try:
                    if marks:
                        self.api.put_archive(container_id, loopback.TAKEOVER_FOLDER, loopback.marks_archive())
                    if login:
                        self._write_login(container_id, spec.image, login)
                    self._known_relays[container_id] = [self._create_relay(
                        spec, container_id, loopback.relay_entrypoint(entrypoint, *where),
                        host_config("host", volumes_from=[container_id]))]
                except Exception:
                    self.remove(container_id)
                    raise
        pause_points.reached("created-not-started")
        if not start:
            return container_id
        try:
            with self._call(f"starting container '{name}'"):
                self._start(container_id)
        except EngineError:
            self.remove(container_id)  # a container that never started would only confuse the next plan
            raise
        return container_id

    def _entrypoint(self, image: str) -> list[str]:
        """The image's own entrypoint, which the launcher runs (pulled first when the engine lacks the image)."""
        details = self.reads.inspect_image(image)
        if details is None:
            self.pull(image)
            details = self.reads.inspect_image(image) or {}
        entrypoint = list((details.get("Config") or {}).get("Entrypoint") or ())
        if not entrypoint:
            raise EngineError(f"image {image} names no entrypoint, so tunnelctl cannot run its client in a network "
                              "namespace of its own; use an image that runs Pinggy's CLI as its entrypoint")
        return entrypoint

    def _create_relay(self, spec: ContainerSpec, container_id: str, entrypoint: list[str], host_config: dict) -> str:
        tags = {labels.MANAGED_BY: labels.MANAGER, labels.PROJECT: spec.project, labels.TUNNEL: spec.tunnel,
                loopback.RELAY_FOR: container_id}
        return self.api.create_container(image=spec.image, entrypoint=entrypoint, command=[], labels=tags,
                                  name=f"{spec.container_name}{loopback.RELAY_SUFFIX}-{container_id[:12]}",
                                  host_config=host_config, detach=True, stop_signal="SIGTERM",
                                  stop_timeout=STOP_GRACE_SECONDS)["Id"]

    def _create(self, spec: ContainerSpec, name: str, tags: Mapping[str, str], host_config: dict,
                **extra: Any) -> dict:
        try:
            return self.api.create_container(image=spec.image, command=list(spec.command), name=name,
                                             labels=dict(tags), host_config=host_config,
                                             detach=True, environment=dict(spec.environment),
                                             ports=[inside for _, _, inside in spec.published] or None,
                                             stop_signal="SIGTERM", stop_timeout=STOP_GRACE_SECONDS, **extra)
        except self._errors.APIError as error:
            # Docker answers 409; Podman 500, saying the name "is already in use" (tests/test_engine_contract.py)
            if error.status_code == 409 or "already in use" in str(error.explanation or ""):
                raise EngineError(f"the name '{name}' is taken by a container tunnelctl does not "
                                  "manage; remove or rename it, or set a different container_name") from None
            raise

    def pull(self, image: str) -> None:
        api = self.api
        from docker.utils import parse_repository_tag

        with self._pull_locks_guard:
            lock = self._pull_locks.setdefault(image, threading.Lock())
        with lock, self._registry_call(image, f"pulling image {image}"):
            repository, tag = parse_repository_tag(image)
            # The engine reports a registry's trouble as a refusal, or as an event once the pull has begun.
            for event in api.pull(repository, tag=tag or "latest", stream=True, decode=True,
                                  auth_config=self._registry_login):
                if "error" in event:
                    raise EngineError(engine_errors.pull_failed(image, str(event["error"]), self.endpoint))

    @contextlib.contextmanager
    def _registry_call(self, image: str, what: str):
        """A request the engine passes on to the image's registry: its refusals are the registry's."""
        with self._call(what):
            try:
                yield
            except self._errors.APIError as error:
                if engine_errors.is_version_refusal(str(error.explanation or "")):
                    raise
                raise EngineError(engine_errors.pull_failed(image, str(error.explanation or error),
                                                            self.endpoint)) from None

    def rename(self, container_id: str, name: str) -> None:
        with self._call(f"renaming container {container_id[:12]} to {name}"):
            self.api.rename(container_id, name)

    def stop(self, container_id: str) -> None:
        """Say goodbye: SIGTERM, so that the client quits cleanly and the server hears of it; the kill after a grace."""
        with self._call(f"stopping container {container_id[:12]}"):
            self.api.stop(container_id, timeout=STOP_GRACE_SECONDS)

    def start(self, container_id: str) -> None:
        """Its relay first (when it has one), so that the client finds its way to the local server from the start."""
        with self._call(f"starting container {container_id[:12]}"):
            self._start(container_id)

    def _start(self, container_id: str) -> None:
        for relay in self._relays(container_id):
            self.api.start(relay)
        self.api.start(container_id)

    def _relays(self, container_id: str) -> list[str]:
        """The relay containers of a tunnel container (loopback.py): one, or none; a list call only for a container
        this instance has neither listed nor made."""
        if container_id in self._known_relays:
            return self._known_relays[container_id]
        return [row["Id"] for row in self.reads.containers({"label": [f"{loopback.RELAY_FOR}={container_id}"]})]

    def set_restart_policy(self, container_id: str, policy: str) -> str:
        """`docker update --restart`: one read for the policy it had, one write (Podman's API takes it too)."""
        with self._call(f"changing the restart policy of container {container_id[:12]}"):
            info = self.reads.inspect_container(container_id) or {}
            self.api.update_container(container_id, restart_policy={"Name": policy})
        return ((info.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"

    def skip_back_off(self, container_id: str) -> None:
        """Asked right after Docker was seen waiting: look again first, since a client Docker has started meanwhile
        may be logging in, and cutting it off could cost a whole token-release lag. Killed at once otherwise (a
        client that is starting may not answer SIGTERM until its login is done)."""
        with self._call(f"restarting container {container_id[:12]}"):
            info = self.reads.inspect_container(container_id)
            if info and (info.get("State") or {}).get("Restarting"):
                self.api.restart(container_id, timeout=0)

    def remove(self, container_id: str, stop_first: bool = False) -> None:
        """Remove the container, its relay and its volume; `stop_first` when it may run a client holding a token
        (see `stop`)."""
        if stop_first:
            with self._call(f"stopping container {container_id[:12]}"), contextlib.suppress(self._errors.NotFound):
                self.api.stop(container_id, timeout=STOP_GRACE_SECONDS)
        with self._call(f"removing container {container_id[:12]}"):
            for relay in self._relays(container_id):  # first: it uses the tunnel container's volume
                with contextlib.suppress(self._errors.NotFound):
                    self.api.remove_container(relay, force=True)
            with contextlib.suppress(self._errors.NotFound):  # already gone: that is what we wanted
                self.api.remove_container(container_id, force=True, v=True)
        self._known_relays.pop(container_id, None)

    def inspect(self, container_ids: Iterable[str]) -> list[ContainerDetails]:
        """`docker inspect` of each container, asked all at once; containers gone meanwhile are left out."""
        wanted = list(container_ids)
        with self._call(f"inspecting container {wanted[0][:12]}" if len(wanted) == 1 else "inspecting containers"):
            found = self.reads.inspect_containers(wanted) if wanted else []
        return [_details(info) for info in found if info is not None]

    def logs(self, container_id: str, tail: LogTail, since: float | None = None, timestamps: bool = False) -> str:
        """The newest `tail` log entries (stdout and stderr), since `since` if given: always a bounded read."""
        with self._call(f"reading the logs of container {container_id[:12]}"):
            raw = self.reads.logs(container_id, tail, int(since) if since else None, timestamps)
        return raw.decode("utf-8", errors="replace")

    def logs_of(self, since: Mapping[str, float | None], tail: LogTail) -> dict[str, str]:
        """Each container's newest `tail` log entries since its time, asked all at once (a gone one's are empty)."""
        with self._call("reading the logs of containers"):
            found = self.reads.logs_of([(container_id, int(moment) if moment else None)
                                        for container_id, moment in since.items()], tail)
        return {container_id: raw.decode("utf-8", errors="replace") for container_id, raw in zip(since, found,
                                                                                                 strict=True)}

    def read_file(self, container_id: str, path: str, limit: int) -> str | None:
        """The file's tail by `docker exec` of a reader the image has: `docker cp` does not see a tmpfs."""
        for reader in _file_readers(path, limit):
            with self._call(f"reading {path} in container {container_id[:12]}"):
                try:
                    run = self.api.exec_create(container_id, reader, stdout=True, stderr=False)["Id"]
                    output = self.api.exec_start(run)
                    exit_code = self.api.exec_inspect(run).get("ExitCode")
                except self._errors.APIError:  # not running (any more), or gone
                    return None
            if exit_code == 0:
                return output.decode("utf-8", errors="replace")
        return None

    def follow_logs(self, container_id: str, tail: LogTail, since: float | None = None,
                    timestamps: bool = False) -> Iterator[str]:
        with self._call(f"reading the logs of container {container_id[:12]}"):
            for chunk in self.api.logs(container_id, stdout=True, stderr=True, tail=tail, stream=True, follow=True,
                                       since=int(since) if since else None, timestamps=timestamps):
                yield chunk.decode("utf-8", errors="replace")


# Programs that print a file's last N bytes: node (Pinggy's CLI images have it, and no tail), else coreutils' or
# busybox's tail.
_NODE_TAIL = ("const fs = require('fs'), [path, limit] = process.argv.slice(1), fd = fs.openSync(path, 'r'), "
              "size = fs.fstatSync(fd).size, length = Math.min(size, Number(limit)), buffer = Buffer.alloc(length); "
              "fs.readSync(fd, buffer, 0, length, size - length); process.stdout.write(buffer)")


def _file_readers(path: str, limit: int) -> list[list[str]]:
    return [["node", "-e", _NODE_TAIL, path, str(limit)], ["tail", "-c", str(limit), path]]


def _details(info: Mapping) -> ContainerDetails:
    state = info.get("State") or {}
    config = info.get("Config") or {}
    return ContainerDetails(
        id=info["Id"],
        name=info.get("Name", "").lstrip("/"),
        tunnel=(config.get("Labels") or {}).get(labels.TUNNEL, ""),
        state=state.get("Status", ""),
        exit_code=state.get("ExitCode") if state.get("Status") in ("exited", "dead") else None,
        started_at=_timestamp(state.get("StartedAt")),
        restart_count=int(info.get("RestartCount") or 0),
        command=tuple(config.get("Cmd") or ()),
        network=(info.get("HostConfig") or {}).get("NetworkMode") or "host",
    )


def _timestamp(text: str | None) -> float | None:
    if not text or text.startswith("0001-"):
        return None
    whole, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(whole + "+00:00")
    return moment.timestamp() + (float("0." + fraction[:6]) if fraction else 0.0)


def _name(row: Mapping) -> str:
    names = row.get("Names") or ["/"]
    return names[0].lstrip("/")


def _observed(row: Mapping, relay_states: Sequence[str] = ()) -> ObservedContainer:
    tags = row.get("Labels") or {}
    return ObservedContainer(
        id=row["Id"],
        name=_name(row),
        tunnel=tags.get(labels.TUNNEL, ""),
        state=row.get("State", ""),
        status=row.get("Status", ""),
        spec_hash=tags.get(labels.SPEC_HASH, ""),
        digest_label=tags.get(labels.SETTING_DIGESTS, ""),
        values_label=tags.get(labels.SETTING_VALUES, ""),
        image_id=row.get("ImageID", ""),
        spec_version=tags.get(labels.SPEC_VERSION, ""),
        project=tags.get(labels.PROJECT, ""),
        relay_for=tags.get(loopback.RELAY_FOR, ""),
        relay_state=(relay_states[0] if relay_states else "missing") if tags.get(labels.LOOPBACK_RELAY) else None,
        takeover_name=tags.get(labels.TAKEOVER_NAME, ""),
    )


def _describe_holder(row: Mapping) -> str:
    tags = row.get("Labels") or {}
    owner = (f"tunnelctl project '{tags.get(labels.PROJECT)}'"
             if tags.get(labels.MANAGED_BY) == labels.MANAGER else "not managed by tunnelctl")
    return f"container {row['Id'][:12]} ({owner})"


_DOCKER_PY = threading.RLock()


def _import_docker_py() -> Any:
    """docker-py and the parts of it the writes use, imported whole before any thread uses them."""
    import docker
    import docker.errors
    import docker.types
    import docker.utils

    return docker


def _ssh_errors() -> tuple[type[Exception], ...]:
    """paramiko's own failures (a refused login, a bad host key), which are not docker-py's: only where an ssh://
    engine has loaded paramiko, so that no other engine pays for importing it."""
    paramiko = sys.modules.get("paramiko")
    return (paramiko.SSHException,) if paramiko else ()
