"""The reads every plan and status makes (list, inspect, logs, the engine's description), spoken to Docker's HTTP
API with the standard library: importing docker-py and requests costs more than a no-op plan's whole work, and these
few GETs need neither. Writes, ssh:// and TLS engines stay docker-py's (see docker_engine.py).

`DockerPyReads` gives docker-py's client the same methods, so the adapter reads one way whatever the engine.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Sequence
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote, urlencode, urlsplit

from ..parallel import map_parallel

# Requests written at once on one connection: 50 inspects go on two connections, which the engine answers side by side.
PIPELINED = 25
# A read that hangs this long is an engine in trouble, not a slow one (docker-py's own default is 60 s).
READ_TIMEOUT_SECONDS = 60


class ApiRefusal(Exception):
    """The engine answered with an error status; `explanation` is its own words."""

    def __init__(self, status: int, explanation: str):
        super().__init__(explanation)
        self.status, self.explanation = status, explanation


class EngineReads(Protocol):
    """What the adapter reads; None where Docker says the object does not exist."""

    def containers(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]: ...

    def inspect_container(self, container_id: str) -> dict[str, Any] | None: ...

    def inspect_containers(self, container_ids: Sequence[str]) -> list[dict[str, Any] | None]: ...

    def inspect_image(self, image: str) -> dict[str, Any] | None: ...

    def info(self) -> dict[str, Any]: ...

    def logs(self, container_id: str, tail: int | str, since: int | None, timestamps: bool = False) -> bytes: ...

    def archive(self, container_id: str, path: str) -> bytes | None:
        """A tar of the file at `path` in the container, running or not (a volume's too; not a tmpfs's)."""

    def logs_of(self, wanted: Sequence[tuple[str, int | None]], tail: int | str,
                timestamps: bool = False) -> list[bytes]:
        """The logs of each (container, since), in order."""


def raw_reads_for(base_url: str, api_version: str) -> RawReads | None:
    """Standard-library reads for a unix socket or a plain tcp:// engine; None for any other (ssh://, TLS)."""
    parts = urlsplit(base_url)
    if parts.scheme in ("unix", "http+unix"):
        return RawReads(api_version, socket_path=parts.path)
    if parts.scheme in ("tcp", "http") and parts.hostname:
        return RawReads(api_version, host=parts.hostname, port=parts.port or 2375)
    return None


class RawReads:
    """GETs to one engine over kept-alive HTTP/1.1 connections: each request takes an idle one (or opens one) and
    gives it back when its answer was read whole, so several threads read at once, and a status of 50 tunnels (100
    reads) does not make the engine accept 100 connections (about a third of its work per read). The answer is read
    by hand: http.client (with ssl and email, a tenth of a no-op plan) stays unimported."""

    def __init__(self, api_version: str, *, socket_path: str | None = None, host: str | None = None,
                 port: int = 2375):
        self.api_version, self.socket_path, self.host, self.port = api_version, socket_path, host, port
        self._idle: list[tuple[socket.socket, BinaryIO]] = []
        self._idle_guard = threading.Lock()

    def _connect(self) -> tuple[socket.socket, BinaryIO]:
        if self.socket_path:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(READ_TIMEOUT_SECONDS)
            try:
                connection.connect(self.socket_path)
            except OSError:
                connection.close()
                raise
        else:
            connection = socket.create_connection((self.host or "localhost", self.port), timeout=READ_TIMEOUT_SECONDS)
        return connection, connection.makefile("rb")

    def _get(self, path: str, query: dict[str, Any] | None = None) -> bytes | None:
        [body] = self._get_all([(path, query)])
        return body

    def _get_all(self, wanted: Sequence[tuple[str, dict[str, Any] | None]]) -> list[bytes | None]:
        """Each GET's body (None: not found), in order. Several are written at once on a connection and answered in
        order (HTTP/1.1 pipelining), a few connections side by side: a status of 50 tunnels asks 100 things, and a
        thread and a round trip per read cost Python more than reading the answers."""
        requests = [f"GET /v{self.api_version}{path}{'?' + urlencode(query) if query else ''} HTTP/1.1\r\n"
                    f"Host: docker\r\n\r\n".encode() for path, query in wanted]
        batches = [requests[start:start + PIPELINED] for start in range(0, len(requests), PIPELINED)]
        answers = [answer for batch in map_parallel(self._answers, batches) for answer in batch]
        return [_body(*answer) for answer in answers]

    def _answers(self, requests: list[bytes]) -> list[tuple[int, str, bytes]]:
        answers: list[tuple[int, str, bytes]] = []
        while len(answers) < len(requests):
            with self._idle_guard:
                kept = self._idle.pop() if self._idle else None
            answered = len(answers)
            try:
                self._carry(kept or self._connect(), requests[answered:], answers)
            except ConnectionError:
                # an idle connection the engine had closed, or one it closed after some answers: the rest are sent
                # again on another (GETs are safe to repeat); a new connection that answers nothing is the engine's
                # trouble
                if kept is None and len(answers) == answered:
                    raise
        return answers

    def _carry(self, connection: tuple[socket.socket, BinaryIO], requests: list[bytes],
               answers: list[tuple[int, str, bytes]]) -> None:
        """Send the requests and add their answers: the first alone, then, if the engine keeps the connection open,
        the others at once. The connection goes back to the idle ones if it may carry more, else it is closed (also
        when anything fails)."""
        sock, reader = connection
        try:
            reusable = True
            for sending in (requests[:1], requests[1:]):
                if not sending or not reusable:
                    break
                sock.sendall(b"".join(sending))
                for _ in sending:
                    status, reason, body, reusable = read_answer(reader)
                    answers.append((status, reason, body))
                    if not reusable:
                        break
        except BaseException:
            reader.close()
            sock.close()
            raise
        if reusable:
            with self._idle_guard:
                self._idle.append(connection)
        else:
            reader.close()
            sock.close()

    def _json(self, path: str, query: dict[str, Any] | None = None) -> Any:
        body = self._get(path, query)
        return None if body is None else json.loads(body)

    def containers(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        return self._json("/containers/json", {"all": 1, "filters": json.dumps(filters)}) or []

    def inspect_container(self, container_id: str) -> dict[str, Any] | None:
        return self._json(f"/containers/{quote(container_id, safe='')}/json")

    def inspect_containers(self, container_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        bodies = self._get_all([(f"/containers/{quote(container_id, safe='')}/json", None)
                                for container_id in container_ids])
        return [None if body is None else json.loads(body) for body in bodies]

    def inspect_image(self, image: str) -> dict[str, Any] | None:
        return self._json(f"/images/{quote(image, safe='/:@')}/json")

    def info(self) -> dict[str, Any]:
        return self._json("/info") or {}

    def logs(self, container_id: str, tail: int | str, since: int | None, timestamps: bool = False) -> bytes:
        [output] = self.logs_of([(container_id, since)], tail, timestamps)
        return output

    def logs_of(self, wanted: Sequence[tuple[str, int | None]], tail: int | str,
                timestamps: bool = False) -> list[bytes]:
        bodies = self._get_all([(f"/containers/{quote(container_id, safe='')}/logs",
                                 {"stdout": 1, "stderr": 1, "tail": tail, **({"since": since} if since else {}),
                                  **({"timestamps": 1} if timestamps else {})})
                                for container_id, since in wanted])
        return [b"" if body is None else demultiplexed(body) for body in bodies]

    def archive(self, container_id: str, path: str) -> bytes | None:
        return self._get(f"/containers/{quote(container_id, safe='')}/archive", {"path": path})


def _body(status: int, reason: str, body: bytes) -> bytes | None:
    """The body of a good answer, None for a 404 (the object does not exist); a refusal in the engine's words."""
    if status == 404:
        return None
    if status >= 400:
        try:
            explanation = json.loads(body).get("message") or ""
        except (ValueError, AttributeError):
            explanation = body.decode("utf-8", errors="replace").strip()
        raise ApiRefusal(status, explanation or f"{status} {reason}")
    return body


def read_answer(reader: BinaryIO) -> tuple[int, str, bytes, bool]:
    """(status, reason, body, whether the connection may carry another request) of one HTTP/1.x answer: a body sized
    by Content-Length or chunked ends where it says; any other is read until the engine closes the connection."""
    status_line = reader.readline().decode("latin-1").rstrip("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ConnectionError("the engine closed the connection without a whole answer")
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b"\n"):
        if not line:
            raise ConnectionError("the engine closed the connection without a whole answer")
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(parts[1])
    reusable = parts[0] == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if status in (204, 304) or 100 <= status < 200:
        body = b""
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunked(reader)
    elif headers.get("content-length", "").isdigit():
        body = _exactly(reader, int(headers["content-length"]))
    else:
        body, reusable = reader.read(), False
    return status, parts[2] if len(parts) > 2 else "", body, reusable


def _exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:
        raise ConnectionError("the engine closed the connection inside an answer")
    return data


def _dechunked(reader: BinaryIO) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = reader.readline()
        if not line.endswith(b"\n"):
            raise ConnectionError("the engine's answer ended inside a chunk")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while reader.readline() not in (b"\r\n", b"\n", b""):  # trailers, which nothing here needs
                pass
            return b"".join(chunks)
        chunks.append(_exactly(reader, size))
        reader.readline()


def demultiplexed(body: bytes) -> bytes:
    """The output of a container without a terminal comes in frames (8-byte header: stream, 0, 0, 0, length); a
    terminal's is raw. Frames are joined in order, as docker-py does; anything that is not frames is kept whole."""
    chunks, offset = [], 0
    while offset < len(body):
        header = body[offset:offset + 8]
        if len(header) < 8 or header[0] not in (0, 1, 2) or header[1:4] != b"\0\0\0":
            return body
        (length,) = struct.unpack(">I", header[4:])
        chunks.append(body[offset + 8:offset + 8 + length])
        offset += 8 + length
    return b"".join(chunks)


class DockerPyReads:
    """The same reads through docker-py's client, for the engines only it can reach (ssh://, TLS)."""

    def __init__(self, api: Any, errors: Any):
        self.api, self.errors = api, errors

    def containers(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        return self.api.containers(all=True, filters=filters)

    def inspect_container(self, container_id: str) -> dict[str, Any] | None:
        try:
            return self.api.inspect_container(container_id)
        except self.errors.NotFound:
            return None

    def inspect_containers(self, container_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        return map_parallel(self.inspect_container, container_ids)  # a round trip each: side by side

    def inspect_image(self, image: str) -> dict[str, Any] | None:
        try:
            return self.api.inspect_image(image)
        except self.errors.ImageNotFound:
            return None

    def info(self) -> dict[str, Any]:
        return self.api.info()

    def logs(self, container_id: str, tail: int | str, since: int | None, timestamps: bool = False) -> bytes:
        try:
            return self.api.logs(container_id, stdout=True, stderr=True, tail=tail, since=since, timestamps=timestamps)
        except self.errors.NotFound:
            return b""

    def archive(self, container_id: str, path: str) -> bytes | None:
        try:
            stream, _ = self.api.get_archive(container_id, path)
        except self.errors.NotFound:
            return None
        return b"".join(stream)

    def logs_of(self, wanted: Sequence[tuple[str, int | None]], tail: int | str,
                timestamps: bool = False) -> list[bytes]:
        return map_parallel(lambda one: self.logs(one[0], tail, one[1], timestamps), wanted)
