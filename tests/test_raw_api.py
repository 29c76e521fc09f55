"""The standard-library reads (what every plan and status asks the engine) against a stand-in engine on a unix
socket: answers, missing objects, refusals and the engine's framed log stream, as docker-py would read them."""

from __future__ import annotations

import http.server
import io
import json
import socketserver
import struct
import threading

import pytest

from provisioner.engine.config import EngineConfig
from provisioner.engine.docker_engine import DockerEngine
from provisioner.engine.raw_api import demultiplexed, read_answer
from provisioner.errors import EngineError


def frame(stream: int, text: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(text)) + text


@pytest.fixture
def engine_answering(tmp_path):
    """A DockerEngine on a unix socket whose server answers each GET with `answers[path]` (status, JSON or bytes),
    keeping connections alive as Docker does; `connections` counts those it accepted, and a path in `drop_after`
    makes it close the connection after answering, without saying so (as an engine closing an idle one does)."""
    answers: dict[str, tuple[int, object]] = {}
    connections: list[int] = []
    drop_after: set[str] = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            connections.append(1)

        def do_GET(self):
            # decided before answering: the client may ask its next question (and change drop_after) at once
            self.close_connection = self.path.split("?")[0] in drop_after
            status, body = answers.get(self.path.split("?")[0], (404, {"message": "page not found"}))
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingUnixStreamServer):
        daemon_threads = True  # a kept-alive connection's thread waits for a next request that never comes

        def get_request(self):
            connection, _ = super().get_request()
            return connection, ("local", 0)

    path = str(tmp_path / "engine.sock")
    server = Server(path, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield DockerEngine(EngineConfig("box", docker=f"unix://{path}"), environ={}), answers, connections, drop_after
    server.shutdown()


def test_frames_of_a_container_without_a_terminal_are_joined_in_order():
    assert demultiplexed(frame(1, b"You can access\n") + frame(2, b"warning\n") + frame(1, b"http://x\n")) == (
        b"You can access\nwarning\nhttp://x\n")
    assert demultiplexed(b"raw terminal output\r\n") == b"raw terminal output\r\n"


def test_an_answer_is_read_whole_whether_sized_chunked_or_cut_off():
    """A sized or chunked HTTP/1.1 answer ends where it says, and its connection may carry the next request; an
    HTTP/1.0 one, or one the engine says it closes, does not."""
    sized = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]HTTP/1.1 (the next answer)"
    assert read_answer(io.BytesIO(sized)) == (200, "OK", b"[]", True)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n"
    assert read_answer(io.BytesIO(chunked)) == (200, "OK", b"[1,2]", True)
    assert read_answer(io.BytesIO(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n[]")) == (200, "OK", b"[]", False)
    assert read_answer(io.BytesIO(b"HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\ngone")) == (
        404, "Not Found", b"gone", False)
    for cut_off in (b"HTTP/1.0 200", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n[]",
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1"):
        with pytest.raises(ConnectionError):
            read_answer(io.BytesIO(cut_off))


def test_reads_answer_missing_things_as_gone_and_refusals_in_the_engines_words(engine_answering):
    engine, answers, _, _ = engine_answering
    answers["/v1.41/containers/abc/logs"] = (200, frame(1, b"hello\n"))
    assert engine.logs("abc", tail=10) == "hello\n"
    assert engine.logs("gone", tail=10) == "" and engine.inspect(["gone"]) == []
    assert engine.observe("p", images=["img:1"]).image_ids == {}  # not pulled yet: a 404 is no error
    answers["/v1.41/containers/json"] = (500, {"message": "the daemon is busy"})
    with pytest.raises(EngineError) as refused:
        engine.observe("p")
    assert refused.value.message == (f"the Docker engine at {engine.endpoint} refused listing containers: "
                                     "the daemon is busy")


def test_reads_share_a_kept_alive_connection_and_open_another_when_the_engine_closed_it(engine_answering):
    engine, answers, connections, drop_after = engine_answering
    answers["/v1.41/containers/abc/json"] = (200, {"Id": "abc", "State": {"Status": "running"}})
    answers["/v1.41/containers/abc/logs"] = (200, frame(1, b"hello\n"))
    assert [details.id for details in engine.inspect(["abc"])] == ["abc"] and engine.logs("abc", tail=1) == "hello\n"
    assert len(connections) == 1
    drop_after.add("/v1.41/containers/abc/logs")
    assert engine.logs("abc", tail=1) == "hello\n"  # and the engine closes that connection
    assert [details.id for details in engine.inspect(["abc"])] == ["abc"]  # sent again on a new one
    assert len(connections) == 2


def test_many_reads_go_at_once_on_one_connection_and_the_rest_again_when_the_engine_closes_it(engine_answering):
    engine, answers, connections, drop_after = engine_answering
    for name in "abcd":
        answers[f"/v1.41/containers/{name}/json"] = (200, {"Id": name, "State": {"Status": "running"}})
        answers[f"/v1.41/containers/{name}/logs"] = (200, frame(1, f"{name} says hello\n".encode()))
    assert [details.id for details in engine.inspect(["a", "gone", "b", "c", "d"])] == ["a", "b", "c", "d"]
    assert len(connections) == 1
    drop_after.add("/v1.41/containers/b/logs")  # answered, then the connection closes with c's and d's unanswered
    assert engine.logs_of(dict.fromkeys("abcd"), tail=10) == {name: f"{name} says hello\n" for name in "abcd"}
    assert len(connections) == 2


def test_an_engine_nobody_serves_is_said_to_be_unreachable(tmp_path):
    engine = DockerEngine(EngineConfig("box", docker=f"unix://{tmp_path}/nobody.sock"), environ={})
    with pytest.raises(EngineError) as unreachable:
        engine.observe("p")
    assert unreachable.value.message.startswith(f"cannot reach the Docker engine at unix://{tmp_path}/nobody.sock "
                                                "(engine 'box') while listing containers: ")
