"""Shared test helpers: writing manifests, running the real `tunnelctl` command, and Docker engines of the tests'
own. The machine's engine is only ever used, never stopped, signalled or reconfigured: tests that need to do that
to an engine get a private one (`private_engine`), and the last test of a session checks that the machine's engine
is the very process it was when the session began."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from provisioner.manifest.settings import Settings

SLEEPER_IMAGE = "tunnelctl-test/sleeper:latest"
REPO = Path(__file__).resolve().parent.parent
SUPPORT = REPO / "tests" / "support"
MACHINE_ENGINE_PIDFILE = Path("/var/run/docker.pid")
sys.path.insert(0, str(REPO))  # for the Pinggy stand-in's test helpers in standin/
# The tests run as a developer does, whose manifest is trusted: CI sets CI=true, which would make every manifest
# untrusted (manifest/trust.py); the tests of untrusted manifests set CI or TUNNELCTL_ENV_ALLOW themselves.
for _decides_trust in ("CI", "TUNNELCTL_ENV_ALLOW"):
    os.environ.pop(_decides_trust, None)


def run_tunnelctl(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None,
                  timeout: float = 120, wrapper: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run the installed command the way a user does, capturing every byte it prints; `wrapper` (such as setpriv)
    runs it."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("TUNNELCTL_DEBUG", None)
    return subprocess.run([*wrapper, sys.executable, "-m", "provisioner", *args], cwd=cwd, env=full_env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


# Root opens any socket: without its capabilities it is any user outside the socket's group.
WITHOUT_ROOTS_RIGHTS = ("setpriv", "--inh-caps=-all", "--bounding-set=-all") if os.geteuid() == 0 else ()


@contextlib.contextmanager
def socket_of_another_user(path: Path):
    """A listening unix socket that only nobody (uid 65534) may open, as the engine's socket is to a user outside
    its group."""
    import socket

    with socket.socket(socket.AF_UNIX) as served:
        served.bind(str(path))
        served.listen()
        path.chmod(0o600)
        os.chown(path, 65534, 65534)
        yield path


def settings_of(**given: Any) -> Settings:
    """A tunnel's settings as the loader resolves them: the schema's defaults under `given`."""
    from provisioner.manifest.schema import field_defaults
    from provisioner.manifest.settings import Settings

    return Settings.of({"container_name": "p-t", "port": 1, **field_defaults(), **given})


def manifest_text(template: str, **values: object) -> str:
    """A manifest from an indented template whose `$name`s are `values`: unlike an f-string, the template's Jinja
    braces (`{{ env.TOKEN }}`) and YAML flow mappings (`{name: a}`) are written as a user writes them."""
    import string

    return string.Template(textwrap.dedent(template)).substitute(values)


def wait_until(probe, timeout: float, what: str, interval: float = 0.5):
    """Call `probe` until it returns something truthy, and return that; fail naming `what` and the last answer."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:g} s; last seen: {answer!r}")
        time.sleep(interval)


@pytest.fixture(autouse=True)
def own_state_folder(tmp_path_factory, monkeypatch):
    """Each test's own XDG state folder: tunnelctl remembers reported URLs and written client files there, and a test
    must neither read another's memory nor touch the user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def write_manifest(tmp_path: Path):
    def write(text: str, name: str = "tunnels.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path
    return write


@pytest.fixture(scope="session")
def docker_api():
    """The real engine: tests that touch containers fail, loudly, where there is none (scripts/setup starts one)."""
    import docker

    api = docker.APIClient(version="1.41")
    try:
        api.ping()
    except Exception as error:  # any failure here means the same thing to the person running the tests
        pytest.fail(f"no Docker engine answers ({error}); run scripts/setup first")
    try:
        api.inspect_image(SLEEPER_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {SLEEPER_IMAGE} is missing; run scripts/build-test-images")
    return api


@pytest.fixture
def project(docker_api, request):
    """A project name of this test's own; its containers are removed afterwards, whatever the test did."""
    import uuid

    name = f"t-{request.node.name[:20].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:6]}"
    yield name
    remove_project(docker_api, name)


# The project's containers on an engine (any engine's docker.APIClient), the ways tests look at them.
def project_rows(api, project: str) -> list[dict]:
    """As `docker ps -a` lists them."""
    return api.containers(all=True, filters={"label": f"io.tunnelctl.project={project}"})


def project_containers_all(api, project: str) -> dict[str, list[dict]]:
    """tunnel → `docker inspect` of every container of it (an interrupted apply may leave several)."""
    found: dict[str, list[dict]] = {}
    for row in project_rows(api, project):
        info = api.inspect_container(row["Id"])
        found.setdefault(info["Config"]["Labels"]["io.tunnelctl.tunnel"], []).append(info)
    return found


def project_containers(api, project: str) -> dict[str, dict]:
    """tunnel → `docker inspect` of its container."""
    return {tunnel: infos[-1] for tunnel, infos in project_containers_all(api, project).items()}


def tunnel_names(api, project: str) -> list[str]:
    return sorted(row["Labels"]["io.tunnelctl.tunnel"] for row in project_rows(api, project))


def remove_project(api, project: str) -> None:
    for row in project_rows(api, project):
        api.remove_container(row["Id"], force=True, v=True)


@pytest.fixture(scope="session")
def podman(docker_api):
    """A Podman API service of the session's own (tests/support/podman-service), with the test images loaded: its
    unix:// URL. Removed afterwards."""
    import uuid

    state = Path(f"/tmp/tunnelctl-podman-{uuid.uuid4().hex[:6]}")
    env = {**os.environ, "TUNNELCTL_PODMAN_DIR": str(state)}
    service = REPO / "tests" / "support" / "podman-service"
    started = subprocess.run([str(service), "start"], capture_output=True, text=True, timeout=300, env=env)
    if started.returncode != 0:
        pytest.fail(f"the Podman service did not start: {started.stderr}")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([str(service), "stop"], capture_output=True, text=True, timeout=300, env=env)
        subprocess.run(["rm", "-rf", str(state)], timeout=120)


@pytest.fixture(scope="session")
def pinggy(docker_api):
    """The local Pinggy stand-in (a real sshd on 127.0.0.1:2222) and its tunnel-client image."""
    from standin import fixture

    try:
        docker_api.inspect_image(fixture.IMAGE)
    except Exception:
        pytest.fail(f"image {fixture.IMAGE} is missing; run scripts/setup")
    return fixture.ensure_running()


@dataclass(frozen=True)
class TunnelClient:
    """A tunnel client image and how its output announces a tunnel."""

    name: str
    image: str
    announcement: str
    retries_in_process: bool  # the CLI reconnects by itself; OpenSSH exits and leaves it to the restart policy


@pytest.fixture(params=["openssh", "pinggy-cli"])
def tunnel_client(request, docker_api) -> TunnelClient:
    """Each tunnel test runs with both clients: OpenSSH, and the double of Pinggy's own CLI (what pinggy/pinggy runs),
    so that neither client's behaviour can regress unseen."""
    from standin import fixture

    client = (TunnelClient("openssh", fixture.IMAGE, "You can access local server via following URL(s):", False)
              if request.param == "openssh" else TunnelClient("pinggy-cli", fixture.CLI_IMAGE, "Remote URLs:", True))
    try:
        docker_api.inspect_image(client.image)
    except Exception:
        pytest.fail(f"image {client.image} is missing; run scripts/setup")
    return client


@contextlib.contextmanager
def http_server(respond):
    """A real HTTP server on a free loopback port; `respond(path, headers)` returns (status, body bytes), or
    (status, body bytes, extra response headers)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body, *extra = respond(self.path, dict(self.headers))
            self.send_response(status)
            for name, value in (extra[0] if extra else {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def listening_port():
    """A port of the loopback where something listens, as a local server would."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def local_server():
    """A real HTTP server standing in for an MCP server; yields (port, requests seen)."""
    seen: list[dict] = []

    def respond(path, headers):
        seen.append({"path": path, "headers": headers})
        return 200, b"hello from the local MCP server"

    with http_server(respond) as port:
        yield port, seen


def machine_dockerd() -> tuple[int, str] | None:
    """(pid, start time) of the machine's own dockerd, or None when none runs; the start time tells a new process
    that happens to get the same pid from the old one."""
    try:
        pid = int(MACHINE_ENGINE_PIDFILE.read_text().strip())
        if Path(f"/proc/{pid}/comm").read_text().strip() != "dockerd":
            return None
        return pid, Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, ValueError):
        return None


def pytest_sessionstart(session):
    session.config.stash[MACHINE_ENGINE_AT_START] = machine_dockerd()


def pytest_sessionfinish(session):
    """The stand-in's token users (a dozen system users a token) go with the session that made them."""
    if "standin.fixture" in sys.modules:
        sys.modules["standin.fixture"].remove_added_tokens()


MACHINE_ENGINE_AT_START = pytest.StashKey[tuple[int, str] | None]()
LAST_TEST = "test_machine_engine.py::test_the_machines_engine_is_left_as_the_suite_found_it"


# A test that uses one of these needs a Docker engine: it is marked `docker` (`scripts/test --fast` leaves it out).
ENGINE_FIXTURES = frozenset({"docker_api", "project", "pinggy", "second_engine", "fault_engine", "podman"})


def pytest_collection_modifyitems(config, items):
    """Mark the tests that need an engine by the fixtures they use; run the check that the machine's engine was
    left alone after everything else."""
    for item in items:
        if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)
    items.sort(key=lambda item: item.nodeid.endswith(LAST_TEST))


class PrivateEngine:
    """A dockerd of the test session's own (tests/support/second-engine): its own socket, data, exec root, config
    and pid file, network namespace (with a bridge of its own), no iptables rules. Tests may stop, kill and restart
    it; the machine's engine is never touched."""

    def __init__(self, purpose: str):
        import uuid

        import docker

        # Short: the engine's unix sockets live below this folder, and a socket path has at most 107 bytes.
        self.state = Path(f"/tmp/tunnelctl-{purpose}-{uuid.uuid4().hex[:6]}")
        self.url = f"unix://{self.state}/docker.sock"
        self.api = docker.APIClient(base_url=self.url, version="1.41")  # connects only when used

    def _run(self, action: str) -> subprocess.CompletedProcess:
        env = {key: value for key, value in os.environ.items() if not key.startswith("DOCKER_")}
        return subprocess.run([str(SUPPORT / "second-engine"), action], capture_output=True, text=True, timeout=300,
                              env={**env, "TUNNELCTL_ENGINE2_DIR": str(self.state)})

    def start(self) -> None:
        started = self._run("start")
        if started.returncode != 0:
            pytest.fail(f"the private engine in {self.state} did not start: {started.stderr}")

    def stop(self) -> None:
        stopped = self._run("stop")
        assert stopped.returncode == 0, stopped.stderr

    @property
    def pid(self) -> int:
        return int((self.state / "docker.pid").read_text())

    def remove(self) -> None:
        """Stop it and delete everything it kept."""
        import shutil

        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)


@contextlib.contextmanager
def private_engine(purpose: str):
    engine = PrivateEngine(purpose)
    try:  # removed whatever happens, even when it fails half-way through starting
        engine.start()
        yield engine
    finally:
        engine.remove()


@pytest.fixture(scope="session")
def second_engine(docker_api):
    """A second engine for the many-engines tests, this session's own, with the test images."""
    with private_engine("engine2") as engine:
        yield engine


@pytest.fixture
def fault_engine(docker_api):
    """A private engine for a test that stops, kills or restarts its engine."""
    with private_engine("fault") as engine:
        yield engine


def create_network(docker_api, name: str) -> str:
    """A bridge network with an explicit subnet in 10.215.0.0/16, retrying the few that others may hold; its gateway."""
    import uuid

    import docker

    for attempt in range(20):
        third = (uuid.uuid4().int + attempt) % 250 + 1
        subnet, gateway = f"10.215.{third}.0/24", f"10.215.{third}.1"
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet, gateway=gateway)])
        try:
            docker_api.create_network(name, driver="bridge", ipam=ipam, labels={"io.tunnelctl.test": "issue15"})
            return gateway
        except docker.errors.APIError as error:
            if "overlap" not in str(error).lower():
                raise
    raise RuntimeError("no free 10.215.x.0/24 subnet for the test network")
