"""The standard-library reads (what every plan and status asks the engine) against a stand-in engine on a unix
socket: answers, missing objects, refusals and the engine's framed log stream, as docker-py would read them."""

from __future__ import annotations

import http.server
import json
import socketserver
import struct
import threading

import pytest

from provisioner.engine.config import EngineConfig
from provisioner.engine.docker_engine import DockerEngine
from provisioner.engine.raw_api import demultiplexed, parsed_answer
from provisioner.errors import EngineError


def frame(stream: int, text: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(text)) + text


@pytest.fixture
def engine_answering(tmp_path):
    """A DockerEngine on a unix socket whose server answers each GET with `answers[path]` (status, JSON or bytes)."""
    answers: dict[str, tuple[int, object]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = answers.get(self.path.split("?")[0], (404, {"message": "page not found"}))
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingUnixStreamServer):
        def get_request(self):
            connection, _ = super().get_request()
            return connection, ("local", 0)

    path = str(tmp_path / "engine.sock")
    server = Server(path, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield DockerEngine(EngineConfig("box", docker=f"unix://{path}"), environ={}), answers
    server.shutdown()


def test_frames_of_a_container_without_a_terminal_are_joined_in_order():
    assert demultiplexed(frame(1, b"You can access\n") + frame(2, b"warning\n") + frame(1, b"http://x\n")) == (
        b"You can access\nwarning\nhttp://x\n")
    assert demultiplexed(b"raw terminal output\r\n") == b"raw terminal output\r\n"


def test_an_answer_is_read_whole_whether_sized_chunked_or_cut_off():
    assert parsed_answer(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n[]") == (200, "OK", b"[]")
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n"
    assert parsed_answer(chunked) == (200, "OK", b"[1,2]")
    with pytest.raises(ConnectionError):
        parsed_answer(b"HTTP/1.0 200")


def test_reads_answer_missing_things_as_gone_and_refusals_in_the_engines_words(engine_answering):
    engine, answers = engine_answering
    answers["/v1.41/containers/abc/logs"] = (200, frame(1, b"hello\n"))
    assert engine.logs("abc", tail=10) == "hello\n"
    assert engine.logs("gone", tail=10) == "" and engine.inspect(["gone"]) == []
    assert engine.observe("p", images=["img:1"]).image_ids == {}  # not pulled yet: a 404 is no error
    answers["/v1.41/containers/json"] = (500, {"message": "the daemon is busy"})
    with pytest.raises(EngineError) as refused:
        engine.observe("p")
    assert refused.value.message == (f"the Docker engine at {engine.endpoint} refused listing containers: "
                                     "the daemon is busy")


def test_an_engine_nobody_serves_is_said_to_be_unreachable(tmp_path):
    engine = DockerEngine(EngineConfig("box", docker=f"unix://{tmp_path}/nobody.sock"), environ={})
    with pytest.raises(EngineError) as unreachable:
        engine.observe("p")
    assert unreachable.value.message.startswith(f"cannot reach the Docker engine at unix://{tmp_path}/nobody.sock "
                                                "(engine 'box') while listing containers: ")
