"""Reading Pinggy's output: URLs on any domain, through terminal escape codes, and refusals."""

from __future__ import annotations

import json

from provisioner import probe
from conftest import http_server
from provisioner.pinggy_output import read_session

TTY_SESSION = (
    "\x1b[?1049h\x1b[H\x1b[2J\x1b]0;pinggy\x07\x1b[1;32mYou can access local server via following URL(s):\x1b[0m\r\n"
    "\x1b[3;1H\x1b[36mhttp://rnqwe-12-34.free.pinggy.link\x1b[0m"
    "\x1b[4;1H\x1b[36mhttps://rnqwe-12-34.free.pinggy.link\x1b[0m"
    "\x1b[6;1HConnected since 12:00\r\n"
)


def test_urls_survive_terminal_escape_codes_and_any_domain():
    assert read_session(TTY_SESSION).urls == ("http://rnqwe-12-34.free.pinggy.link",
                                              "https://rnqwe-12-34.free.pinggy.link")
    other = "You can access local server via following URL(s):\nhttps://abc.pinggy.online\n"
    assert read_session(other).urls == ("https://abc.pinggy.online",)


def test_only_urls_right_after_the_banner_count():
    text = ("Visit https://dashboard.pinggy.io for help\n"
            "You can access local server via following URL(s):\nhttp://a.pinggy.link\nhttps://a.pinggy.link\n\n"
            "Debugger at http://localhost:4300\nhttp://late.example\n")
    assert read_session(text).urls == ("http://a.pinggy.link", "https://a.pinggy.link")


def test_the_last_session_wins_after_a_restart():
    text = ("You can access local server via following URL(s):\nhttps://old.pinggy.link\n"
            "Connection closed by remote host\n"
            "You can access local server via following URL(s):\nhttps://new.pinggy.link\n")
    assert read_session(text).urls == ("https://new.pinggy.link",)


def test_a_refusal_is_reported_in_pinggys_words():
    text = ("You can access local server via following URL(s):\nhttps://old.pinggy.link\n"
            "Login is not allowed: A tunnel with the same token X is already active.\r\n")
    session = read_session(text)
    assert session.urls == ()
    assert session.refusal == "Login is not allowed: A tunnel with the same token X is already active."


def test_ssh_chatter_is_not_mistaken_for_the_reason():
    text = ("root@127.0.0.1: Permission denied (password).\n"
            "Pseudo-terminal will not be allocated because stdin is not a terminal.\n")
    assert read_session(text).last_line == "root@127.0.0.1: Permission denied (password)."


def test_web_debugger_urls_are_read_from_its_endpoint():
    def debugger(path, headers):
        if path != "/urls":
            return 404, b"{}"
        return 200, json.dumps({"urls": ["https://dbg.pinggy.link"]}).encode()

    with http_server(debugger) as port:
        assert probe.debugger_urls(port) == ("https://dbg.pinggy.link",)
    assert probe.debugger_urls(port) == ()  # nobody answers any more
