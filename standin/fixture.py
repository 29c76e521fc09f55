"""Test helpers for the Pinggy stand-in (standard library only).

    from standin.fixture import ensure_running          # or put standin/ on sys.path
    si = ensure_running()                               # port 2222, starts it if needed
    si.add_token("tok1")
    si.clear_records()
    ... docker run -d --net=host tunnelctl-test/pinggy-ssh:latest -p 2222 \\
            -R0:127.0.0.1:8000 -o StrictHostKeyChecking=no -t tok1+force@127.0.0.1 k:abc ...
    rec = si.wait_for_record("tok1")
    rec["options"]   -> ["k:abc", ...]
    rec["port"]      -> the port sshd allocated; http://127.0.0.1:<port>/ reaches the client's local server

Everything that creates users or starts sshd needs root (tests run as root here and in CI).
See standin/README.md for the record format.
"""

import glob
import json
import os
import re
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(HERE, "pinggy-standin")
EDGE = os.path.join(HERE, "pinggy-edge")
SETUP = os.path.join(HERE, "setup")
BUILD_IMAGE = os.path.join(HERE, "build-image")
IMAGE = os.environ.get("PINGGY_STANDIN_IMAGE", "tunnelctl-test/pinggy-ssh:latest")
# The double of Pinggy's own CLI (what pinggy/pinggy runs): same wire, the CLI's output, reconnection and signals.
CLI_IMAGE = os.environ.get("PINGGY_STANDIN_CLI_IMAGE", "tunnelctl-test/pinggy-cli:latest")
# PINGGY_STANDIN_PORT lets several checkouts on one machine each run their own stand-in.
DEFAULT_PORT = int(os.environ.get("PINGGY_STANDIN_PORT") or 2222)
# A real server learns late that a client went away and holds its token meanwhile; the test suite's stand-in does
# the same by default (PINGGY_STANDIN_RELEASE_LAG, seconds), so that no test relies on a kinder server than Pinggy.
DEFAULT_RELEASE_LAG = float(os.environ.get("PINGGY_STANDIN_RELEASE_LAG") or 2)
TYPES = ("http", "tcp", "tls", "udp", "tlstcp")
REFUSED_LINE = "Login is not allowed: A tunnel with the same token {token} is already active."
BANNER_HEAD = "You can access local server via following URL(s):"
_URL_PORT = re.compile(r"\b[a-z]+://[^\s/]*-p(\d+)\.a\.pinggy\.link\S*")


def _default_dir(port):
    if os.environ.get("PINGGY_STANDIN_DIR"):
        return os.environ["PINGGY_STANDIN_DIR"]
    return "/tmp/pinggy-standin" if port == 2222 else "/tmp/pinggy-standin-%d" % port


def _cli(*args, check=True):
    return subprocess.run([CLI] + list(args), check=check, capture_output=True,
                          text=True)


def parse_banner(text):
    """URLs and allocated port from a client's output (e.g. `docker logs`).

    Returns {"urls": [...], "port": int or None, "refused": bool}."""
    urls = [m.group(0) for m in _URL_PORT.finditer(text)]
    ports = [int(m.group(1)) for m in _URL_PORT.finditer(text)]
    return {"urls": urls, "port": ports[0] if ports else None,
            "refused": "Login is not allowed:" in text}


def ensure_image(force=False):
    """Build tunnelctl-test/pinggy-ssh:latest unless it is up to date."""
    subprocess.run([BUILD_IMAGE, "--quiet"] + (["--force"] if force else []), check=True)
    return IMAGE


def ensure_cli_image(force=False):
    """Build the CLI double, tunnelctl-test/pinggy-cli:latest, unless it is up to date."""
    subprocess.run([BUILD_IMAGE, "--cli", "--quiet"] + (["--force"] if force else []), check=True)
    return CLI_IMAGE


class StandIn:
    def __init__(self, port=DEFAULT_PORT, state_dir=None, **roughness):
        self.port = port
        self.roughness = roughness
        self.host = "127.0.0.1"
        self.dir = state_dir or _default_dir(port)
        self.records_dir = os.path.join(self.dir, "records")
        self.locks_dir = os.path.join(self.dir, "locks")

    def _args(self):
        return ["--port", str(self.port), "--dir", self.dir]

    # -- lifecycle -------------------------------------------------------
    def start(self):
        _cli("start", *self._args(), *_roughness_args(self.roughness))
        return self

    def stop(self):
        _cli("stop", *self._args())

    def is_running(self):
        return _cli("status", *self._args(), check=False).returncode == 0

    def start_edge(self):
        """Start the edge in front of the sessions (idempotent); return the TUNNELCTL_EDGE value for tunnelctl."""
        subprocess.run([EDGE, "start", *self._args()], check=True, stdout=subprocess.DEVNULL)
        return subprocess.run([EDGE, "address", *self._args()], check=True, stdout=subprocess.PIPE,
                              text=True).stdout.strip()

    # -- users -----------------------------------------------------------
    def add_token(self, *tokens):
        """Create the ssh users TOKEN, TOKEN+force, TOKEN+TYPE[+force] (idempotent)."""
        _cli("add-token", *tokens)
        _ADDED_TOKENS.update(tokens)

    def remove_token(self, *tokens):
        _cli("remove-token", *tokens)

    @staticmethod
    def add_anonymous():
        """Create the users http, tcp, tls, udp, tlstcp: logins without a token (idempotent)."""
        _cli("add-anonymous")

    def configure_token(self, token, **roughness):
        """This token's own roughness, e.g. configure_token("tok1", release_lag=0, banner_delay=1.5); it overrides
        the instance's, so tests running at the same time with other tokens are not affected."""
        _cli("configure-token", token, *self._args(), *_roughness_args(roughness))

    def configure_domains(self, token, subdomain=None, domains=None):
        """A Pro token's persistent subdomain (every login gets SUBDOMAIN.a.pinggy.link; "" for random again) and the
        custom domains it may forward with `-R<domain>:0:host:port` (a list; [] for none)."""
        _cli("configure-token", token, *self._args(), *_domain_args(subdomain, domains))

    def drop(self, token):
        """End the token's live session from the server's side; its client reconnects and gets a new URL."""
        _cli("drop", token, *self._args())

    @staticmethod
    def user(token, type=None, force=False):
        """ssh user name, e.g. user("tok1", "tcp", True) -> "tok1+tcp+force"."""
        return "+".join([token] + ([type] if type else []) + (["force"] if force else []))

    def ssh_args(self, token, local="127.0.0.1:8000", type=None, force=True, options=()):
        """Arguments for the tunnel image (its entrypoint is /usr/bin/ssh)."""
        return (["-p", str(self.port), "-R0:" + local, "-o", "StrictHostKeyChecking=no",
                 "-o", "ServerAliveInterval=30", "-t",
                 "%s@%s" % (self.user(token, type, force), self.host)] + list(options))

    # -- records ---------------------------------------------------------
    def records(self, token=None):
        """Parsed session records, oldest first (optionally for one token)."""
        out = [rec for rec in _read_json_files(self.records_dir)
               if token is None or rec.get("token") == token]
        return sorted(out, key=lambda r: (r.get("time", 0), r.get("pid", 0)))

    def wait_for_record(self, token, timeout=20, newer_than=None, status=None, poll=0.05):
        """Wait for a session record of `token` and return the newest one.

        newer_than: a record returned earlier; only records started after it count.
        status: only records with this status ("active", "refused", "closed", "kicked").
        Raises TimeoutError (with what was seen) if none arrives in time."""
        after = (newer_than["time"], newer_than["pid"]) if newer_than else None
        deadline = time.time() + timeout
        while True:
            recs = [r for r in self.records(token)
                    if (after is None or (r.get("time", 0), r.get("pid", 0)) > after)
                    and (status is None or r.get("status") == status)]
            if recs:
                return recs[-1]
            if time.time() >= deadline:
                raise TimeoutError("no stand-in record for token %r within %ss (have: %s)" % (
                    token, timeout, [(r.get("user"), r.get("status")) for r in self.records(token)]))
            time.sleep(poll)

    def wait_for_status(self, record, status, timeout=20, poll=0.05):
        """Wait until the session of `record` reaches `status` (e.g. "closed", "kicked")."""
        deadline = time.time() + timeout
        path = os.path.join(self.records_dir, record["record"])
        while True:
            try:
                with open(path) as f:
                    rec = json.load(f)
                if rec.get("status") == status:
                    return rec
            except (OSError, ValueError):
                rec = None
            if time.time() >= deadline:
                raise TimeoutError("record %s has status %r, not %r after %ss" % (
                    record["record"], rec and rec.get("status"), status, timeout))
            time.sleep(poll)

    def clear_records(self):
        for path in glob.glob(os.path.join(self.records_dir, "*.json")):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def active_sessions(self, token=None):
        """Live tunnels, one per token: dicts with token, user, pid, sshd_pid,
        ports, record (file name of its record), time."""
        out = []
        for info in _read_json_files(self.locks_dir):
            if _alive(info.get("pid"), info.get("starttime")) and \
                    (token is None or info.get("token") == token):
                out.append(info)
        return sorted(out, key=lambda i: i.get("time", 0))

    def __repr__(self):
        return "StandIn(port=%d, dir=%r)" % (self.port, self.dir)


def _domain_args(subdomain, domains):
    """configure-token's words for a Pro token's subdomain and domains (None: left as they are)."""
    return ([f"--subdomain={subdomain}"] if subdomain is not None else []) + (
        [f"--domains={','.join(domains)}"] if domains is not None else [])


def _roughness_args(roughness):
    """release_lag=2 → ["--release-lag", "2"]; see `pinggy-standin --help` for the knobs."""
    args = []
    for name, value in sorted(roughness.items()):
        if value is not None:
            args += ["--" + name.replace("_", "-"), str(value)]
    return args


def _read_json_files(folder):
    """Every *.json file of the folder, parsed; files that vanished or are half-written are skipped."""
    found = []
    for path in glob.glob(os.path.join(folder, "*.json")):
        try:
            with open(path) as f:
                found.append(json.load(f))
        except (OSError, ValueError):
            continue
    return found


def _alive(pid, starttime=None):
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    if fields[0] in ("Z", "X"):
        return False
    return starttime is None or int(fields[19]) == starttime


# Tokens this process added: each is a dozen system users, which a test run must not leave behind.
_ADDED_TOKENS: set[str] = set()


def remove_added_tokens():
    """Delete the users of every token this process added (tests call it when they end)."""
    if _ADDED_TOKENS:
        _cli("remove-token", *sorted(_ADDED_TOKENS), check=False)
        _ADDED_TOKENS.clear()


def ensure_running(port=DEFAULT_PORT, state_dir=None, release_lag=DEFAULT_RELEASE_LAG, **roughness):
    """Start the stand-in on 127.0.0.1:port unless it runs; return a StandIn.

    Always goes through `pinggy-standin start`, which is idempotent and cheap
    (~50 ms) and also refreshes the installed session scripts. `roughness`
    (banner_delay, session_limit, max_startups) is the instance's: give a test
    that needs its own an instance of its own (another port)."""
    return StandIn(port, state_dir, release_lag=release_lag, **roughness).start()


# -- Pinggy's real CLI and the Pinggy-protocol stand-in ------------------------------------------------------------
PROTOCOL_CLI = os.path.join(HERE, "pinggy-protocol-standin")
BUILD_PINGGY = os.path.join(HERE, "build-pinggy")
# npm pinggy 0.5.3 on Debian's node with libpinggy built from the pinned sources (standin/build-pinggy).
REAL_IMAGE = os.environ.get("PINGGY_REAL_IMAGE", "tunnelctl-test/pinggy-real:latest")
REAL_CLI_PORT = 443  # the only port Pinggy's CLI dials, whatever -p says


def ensure_real_image():
    """Build tunnelctl-test/pinggy-real:latest unless it is up to date; None (and why) when it cannot be built here
    (no pinned sources)."""
    built = subprocess.run([BUILD_PINGGY, "--quiet"], capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError("standin/build-pinggy failed: %s" % built.stderr.strip()[-2000:])
    found = subprocess.run(["docker", "image", "inspect", REAL_IMAGE], capture_output=True)
    return (REAL_IMAGE, None) if found.returncode == 0 else (None, built.stderr.strip() or "no image")


def _protocol_port():
    if os.environ.get("PINGGY_PROTOCOL_STANDIN_PORT"):
        return int(os.environ["PINGGY_PROTOCOL_STANDIN_PORT"])
    return DEFAULT_PORT + 1000


class ProtocolStandIn(StandIn):
    """The Pinggy-protocol stand-in (standin/pinggy-protocol-standin): Pinggy's real CLI logs in to it over TLS.

    Same state layout, records, waits and edge as StandIn; tokens are names in STATE/tokens (no system users). It
    listens on 127.0.0.1:port of this machine; the CLI dials 443, so a test relays 443 of a namespace of its own
    there (tests/support/netns-relay PID PORT SOCKET 443)."""

    def __init__(self, port=None, state_dir=None, **roughness):
        port = port or _protocol_port()
        super().__init__(port, state_dir or "/tmp/pinggy-protocol-standin-%d" % port, **roughness)

    def _run(self, command, *args, check=True):
        return subprocess.run([PROTOCOL_CLI, command, *self._args(), *args], check=check, capture_output=True,
                              text=True)

    def start(self):
        self._run("start", *_roughness_args(self.roughness))
        return self

    def stop(self):
        self._run("stop")

    def is_running(self):
        return self._run("status", check=False).returncode == 0

    def add_token(self, *tokens):
        self._run("add-token", *tokens)

    def remove_token(self, *tokens):
        self._run("remove-token", *tokens)

    @staticmethod
    def add_anonymous():
        """Logins without a token are always accepted (host anon<N>)."""

    def configure_token(self, token, **roughness):
        """This token's own roughness (release_lag, banner_delay, session_limit); it also makes the token known."""
        self._run("configure-token", token, *_roughness_args(roughness))

    def configure_domains(self, token, subdomain=None, domains=None):
        """As StandIn.configure_domains: a Pro token's persistent subdomain and the custom domains it may forward."""
        self._run("configure-token", token, *_domain_args(subdomain, domains))

    def drop(self, token):
        """End the token's live session from the server's side; the CLI reconnects and gets a new URL."""
        self._run("drop", token)

    def cli_args(self, token, local="localhost:8000", force=False, options=()):
        """Arguments for the real CLI's image, as tunnelctl writes them (the server is 127.0.0.1, port 443)."""
        user = token + ("+force" if force else "")
        return ["-p", str(REAL_CLI_PORT), "-R0:" + local, "-o", "StrictHostKeyChecking=no", "-t",
                "%s@127.0.0.1" % user] + list(options)

    def active_sessions(self, token=None):
        """Live tunnels: the records whose status is active, while the server runs."""
        return [r for r in self.records(token) if r.get("status") == "active" and _alive(r.get("pid"))]

    def __repr__(self):
        return "ProtocolStandIn(port=%d, dir=%r)" % (self.port, self.dir)


def ensure_protocol_running(port=None, state_dir=None, release_lag=DEFAULT_RELEASE_LAG, **roughness):
    """Start the Pinggy-protocol stand-in unless it runs (idempotent); return a ProtocolStandIn. Like
    ensure_running(), with the suite's default release lag."""
    return ProtocolStandIn(port, state_dir, release_lag=release_lag, **roughness).start()
