"""Reading Pinggy's output: URLs on any domain, through terminal escape codes, and refusals."""

from __future__ import annotations

import json

import pytest

from conftest import http_server
from provisioner.observe import probe
from provisioner.observe.pinggy_output import client_problem, collapse_frames, read_session

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


@pytest.mark.parametrize("ended", ["Connection to 127.0.0.1 closed by remote host.",
                                   "Connection to pro.pinggy.io closed.",
                                   "client_loop: send disconnect: Broken pipe",
                                   "Timeout, server pro.pinggy.io not responding.",
                                   "Tunnel closed by the server (session limit 60s); the next login gets a new URL."])
def test_urls_of_a_session_that_ended_are_not_current(ended):
    """While Docker restarts a client whose session was dropped, its old URLs must not read as up."""
    text = "You can access local server via following URL(s):\nhttps://old.pinggy.link\n" + ended + "\n"
    assert read_session(text).urls == ()
    assert read_session(text + "You can access local server via following URL(s):\nhttps://new.pinggy.link\n"
                        ).urls == ("https://new.pinggy.link",)


def test_a_refusal_stays_the_reason_when_ssh_then_says_the_connection_closed():
    text = "Login is not allowed: A tunnel with the same token X is already active.\nConnection to 127.0.0.1 closed.\n"
    assert read_session(text).refusal == "Login is not allowed: A tunnel with the same token X is already active."


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


# What Pinggy's CLI (npm `pinggy` 0.5.3, the `pinggy/pinggy` image) prints, byte for byte, with colours on (`docker
# run -t`): picocolors around every word, the spinner redrawn after a bare \r, and `\r\x1b[K` when it stops.
def cli_colours(text: str) -> str:
    return (text.replace("\u2714 Success:", "\x1b[32m\x1b[1m\u2714 Success:\x1b[22m\x1b[39m")
            .replace("Remote URLs:", "\x1b[34m\x1b[96mRemote URLs:\x1b[39m\x1b[39m"))


def spinner(text: str, frames: int = 12) -> str:
    braille = "\u280b\u2819\u2839\u2838\u283c\u2834\u2826\u2827\u2807\u280f"
    return "".join(f"\r\x1b[36m{braille[i % 10]}\x1b[39m {text}" for i in range(frames))


RULE = "\u2500" * 31
CLI_SESSION = cli_colours(
    spinner("Initializing...") + "\r\u2714 Initialized\n"
    + spinner("Submitting tunnel to daemon...") + "\r\x1b[K"
    + spinner("Tunnel 1a2b3c4d \u2014 waiting for connection...") + "\r\u2714  Connected to Pinggy\n"
    + " \u2714 Success: Tunnel established!\n" + RULE + "\nRemote URLs:\n"
    + "  http://abc.a.pinggy.link\n  https://abc.a.pinggy.link\n" + RULE + "\n" + RULE
    + "\n\nPress Ctrl+C to stop the tunnel.\n\n" + "\rConnections: 0 | Bytes: 0\rConnections: 3 | Bytes: 5120")
DROPPED = ("\u26a0 Warning: Disconnected: connection reset by peer\n"
           "Reconnecting (attempt #1)...\n" + spinner("Reconnecting to Pinggy...") + "\n")
REFUSED = "\u26a0 Warning: Login is not allowed: A tunnel with the same token X is already active.\n"


def test_the_cli_announces_its_urls_in_a_block():
    session = read_session(CLI_SESSION)
    assert session.urls == ("http://abc.a.pinggy.link", "https://abc.a.pinggy.link")
    assert session.refusal is None and not session.retrying
    assert session.last_line == "Press Ctrl+C to stop the tunnel."  # not a spinner frame, not the counter


def test_a_dropped_cli_session_has_no_urls_and_retries_until_it_reconnects_with_new_ones():
    dropped = read_session(CLI_SESSION + DROPPED)
    assert dropped.urls == () and dropped.retrying
    assert dropped.refusal == "connection reset by peer"
    back = read_session(CLI_SESSION + DROPPED + " \u2714 Success: Reconnected: http://new.a.pinggy.link, "
                                                "https://new.a.pinggy.link\n")
    assert back.urls == ("http://new.a.pinggy.link", "https://new.a.pinggy.link")
    assert back.refusal is None and not back.retrying


def test_a_refusal_the_cli_retries_is_reported_with_pinggys_words_until_it_gives_up():
    refused = read_session(CLI_SESSION + DROPPED + REFUSED)
    assert refused.urls == () and refused.retrying
    assert refused.refusal == "Login is not allowed: A tunnel with the same token X is already active."
    gave_up = read_session(CLI_SESSION + DROPPED + REFUSED + "\u2716 Error: Reconnection failed after 5 attempts\n")
    assert gave_up.refusal == refused.refusal and not gave_up.retrying
    assert gave_up.last_line == "\u2716 Error: Reconnection failed after 5 attempts"


def test_the_cli_failing_its_first_attempt_is_reported_in_pinggys_words():
    text = (spinner("Tunnel 1a2b3c4d \u2014 waiting for connection...") + "\r\u2716 Failed to connect\n"
            "\u2716 Error: Failed to start tunnel: Invalid token\n")
    session = read_session(text)
    assert session.refusal == "Invalid token" and not session.retrying and session.urls == ()


def test_messages_about_one_of_several_tunnels_drop_the_tunnel_id():
    text = CLI_SESSION + "\u26a0 Warning: [1a2b3c4d] Disconnected: timeout\n" \
                         "[1a2b3c4d] Reconnecting (attempt #2)...\n" \
                         " \u2714 Success: [1a2b3c4d] Reconnected: https://z.a.pinggy.link\n"
    assert read_session(text).urls == ("https://z.a.pinggy.link",)


def test_a_warning_about_the_clis_own_arguments_does_not_take_the_tunnel_down():
    text = "\u26a0 Warning: Unknown extended option \"x:nope\"\n" + CLI_SESSION
    assert read_session(text).urls == ("http://abc.a.pinggy.link", "https://abc.a.pinggy.link")


def test_logs_show_each_spinner_once_as_a_terminal_would():
    reconnecting = "".join(spinner("Reconnecting to Pinggy...", 50) + "\n" for _ in range(1000))
    text = CLI_SESSION + DROPPED + reconnecting + REFUSED
    shown = "".join(collapse_frames([text])).split("\n")
    assert len(shown) < 25
    assert "Initializing..." not in "\n".join(shown)  # redrawn over by "Initialized"
    assert sum("Reconnecting to Pinggy" in line for line in shown) == 1
    assert "\u2714 Initialized" in shown
    assert "  https://abc.a.pinggy.link" in shown
    assert "\x1b[32m" in "\n".join(shown)  # the client's colours are what it printed, and stay
    assert "".join(collapse_frames(["plain\nlines\n"])) == "plain\nlines\n"
    pieces = [text[start:start + 700] for start in range(0, len(text), 700)]  # as `logs --follow` receives it
    assert "".join(collapse_frames(pieces)) == "\n".join(shown)


def test_web_debugger_urls_are_read_from_its_endpoint():
    def debugger(path, headers):
        if path != "/urls":
            return 404, b"{}"
        return 200, json.dumps({"urls": ["https://dbg.pinggy.link"]}).encode()

    with http_server(debugger) as port:
        assert probe.debugger_urls(port) == ("https://dbg.pinggy.link",)
    assert probe.debugger_urls(port) == ()  # nobody answers any more


# What the real CLI (npm `pinggy` 0.5.3 on libpinggy 0.1.7) printed in each failure mode, run on this kind of machine
# (../shared/third-party/README.md): its own verdicts are not Pinggy's words.
WAITING = (spinner("Initializing...") + "\r\u2714 Initialized\n" + spinner("Submitting tunnel to daemon...")
           + spinner("Tunnel 1c3e264e created \u2014 starting...", 2)
           + spinner("Tunnel 1c3e264e \u2014 waiting for connection..."))


def test_a_token_the_cli_refuses_before_connecting_names_the_rule_not_pinggy():
    text = (WAITING + "\r\u2716 Failed to start\n\u2716 Error: Failed to start tunnel: Validation failed:\n"
            "- Token must be at least 10 characters long\n")
    session = read_session(text)
    assert session.refusal is None and session.urls == ()
    assert session.invalid_settings and session.client_error == "Token must be at least 10 characters long"
    assert client_problem(session) == ("the tunnel client refuses its settings before connecting: Token must be at "
                                       "least 10 characters long")


def test_giving_up_is_the_clients_verdict_not_a_refusal_by_pinggy():
    text = (WAITING + "\r\u2716 Failed to connect\n"
            "\u2716 Error: Failed to start tunnel: Maximum reconnection attempts reached. Exiting.\n")
    session = read_session(text)
    assert session.refusal is None and not session.invalid_settings
    assert session.client_error == "Maximum reconnection attempts reached. Exiting."
    assert "Pinggy refused" not in client_problem(session)
    assert client_problem(session).startswith("the tunnel client gave up reconnecting (its own words, not Pinggy's")


def test_a_client_still_waiting_says_so_and_nothing_else():
    session = read_session(WAITING)
    assert session == read_session(WAITING)
    assert session.urls == () and session.refusal is None and session.client_error is None
    assert session.last_line == "\u2714 Initialized"  # frames are not reasons


def test_a_spinner_frame_docker_cut_at_its_16_kib_split_is_still_a_frame():
    """Docker stores each half of a split line as valid UTF-8: a 3-byte braille frame becomes three U+FFFD."""
    cut = spinner("Tunnel 1c3e264e \u2014 waiting for connection...", 3) + "\r\ufffd\ufffd\ufffd Tunnel 1c3e264e " \
        "\u2014 waiting for connection..." + spinner("Tunnel 1c3e264e \u2014 waiting for connection...", 3)
    session = read_session("\u2714 Initialized\n" + cut)
    assert session.last_line == "\u2714 Initialized"
    shown = "".join(collapse_frames(["\u2714 Initialized\n", cut, "\n"]))
    assert "\ufffd\ufffd" not in shown and shown.count("waiting for connection") == 1
    assert read_session("\u2714 Initialized\nTunnel 1c3e264e \ufffd\ufffd\ufffd gone\n").last_line == \
        "Tunnel 1c3e264e \ufffd gone"  # one unknown character, where one was cut


def test_the_cli_losing_its_daemon_takes_its_urls_down():
    """libpinggy 0.1.7's daemon dies (SIGSEGV) on a refused login; the CLI warns on a line of its own."""
    text = CLI_SESSION + "\n\u26a0 Warning: \nDaemon connection dropped \u2014 reconnecting (1/5)...\n"
    session = read_session(text)
    assert session.urls == () and session.retrying
    assert client_problem(session).startswith("the tunnel client lost its daemon")
