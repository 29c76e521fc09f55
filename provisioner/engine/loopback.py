"""A tunnel container in a network namespace of its own that still reaches a server on its engine's host loopback.

Why: Pinggy's CLI always starts a daemon whose control port listens on 127.0.0.1:<random port> without
authentication (`GET /tunnels` answers the token and the whole configuration; `POST /shutdown` stops it), and offers
no option against it. Under host networking that is the machine's loopback, open to every local user. In a network
namespace of its own the port answers only inside the container.

How: the tunnel container joins the engine's default bridge (it reaches Pinggy as any container does) and runs
LAUNCHER with node from its own image: it listens on the local server's address and port *inside* its namespace,
carries each connection to a unix socket in a folder (an anonymous volume of the tunnel container), and then runs
the image's own entrypoint with the tunnel's arguments, passing signals on and exiting with the client's status. A
relay container beside it, from the same image, on the host network and hardened the same way, runs RELAY: it
listens on that unix socket and connects each stream to the local server. No TCP port is opened on the host, and
what the socket leads to (the local server) is what every local user reaches anyway.

The relay names its tunnel container by id (label RELAY_FOR), so renaming the tunnel container aside needs nothing;
the engine removes a tunnel container's relay with it, starts it before it, and folds it into it when it lists a
project's containers (a relay whose tunnel container is gone is listed, so that the next plan removes it).
Pure data: the Docker adapter (docker_engine.py) and the spec hash (desired/specs.py) both use it.
"""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import replace

from ..desired.labels import LABEL_PREFIX, digest
from ..desired.model import ContainerSpec

RELAY_FOR = LABEL_PREFIX + "loopback-relay-for"  # on a relay container: the id of the tunnel container it serves
SOCKET_FOLDER = "/run/tunnelctl-loopback"  # in both containers: the tunnel container's anonymous volume
# That volume is a small tmpfs that every user may write to (sticky, like /tmp): an image may run its client as a user
# other than root, and the relay, which runs as that user too, makes its socket there. Docker made a plain anonymous
# volume's folder root's, mode 0755, so such a relay could not (Podman hands a new volume to the container's user).
SOCKET_VOLUME_OPTIONS = {"type": "tmpfs", "device": "tmpfs", "o": "size=64k,mode=1777,nosuid,nodev,noexec"}
SOCKET = f"{SOCKET_FOLDER}/local-server.sock"
RELAY_SUFFIX = "-loopback"

# A takeover (run/executor.py): the tunnel container made to take its token's session over from tunnelctl's own previous
# container gets TAKEOVER_VARIABLE=1 and an anonymous volume on disk at TAKEOVER_FOLDER (it outlives the container's
# restarts, and goes with it), in which the engine makes the folder TAKEOVER_MARKS, writable by every user (the image's
# user may be another than root, and Docker makes a new volume root's, mode 0755). LAUNCHER writes TAKEOVER_MARKER there
# before its one forced login.
TAKEOVER_VARIABLE = "TUNNELCTL_TAKEOVER"
TAKEOVER_FOLDER = "/run/tunnelctl-takeover"
TAKEOVER_MARKS = "marks"
TAKEOVER_MARKER = f"{TAKEOVER_FOLDER}/{TAKEOVER_MARKS}/forced"

# Put before each line of the CLI's daemon log that LAUNCHER copies to its stderr (observe/pinggy_output.py).
DAEMON_LOG_LINE = "pinggy-daemon| "

# In the tunnel container: argv = HOST PORT SOCKET COMMAND… Listens on each address HOST names in this namespace
# (localhost: 127.0.0.1 and ::1, where there is one), then runs COMMAND. It also copies the events of the CLI's
# daemon log (`[tunnel:ID] [info] Tunnel …` lines: a refusal, a dropped session, an unreachable server, which the CLI
# does not print; the daemon's start, with its pid, and its shutdown) to its stderr every half second and when the
# client exits: they reach the container's logs, which tunnelctl reads anyway and which outlive the container's
# tmpfs. A first such line says so, before the daemon has logged anything.
LAUNCHER = r"""'use strict';
const net = require('net'), dns = require('dns'), os = require('os'), fs = require('fs');
const { spawn } = require('child_process');
const [host, port, socket, ...command] = process.argv.slice(1);
const daemonLog = `${process.env.XDG_STATE_HOME || os.homedir() + '/.local/state'}/pinggy-cli/logs/daemon.log`;
let copied = 0, partial = '';
function copyDaemonLog() {
  let fd;
  try { fd = fs.openSync(daemonLog, 'r'); } catch { return; }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < copied) copied = 0;
    const buffer = Buffer.alloc(Math.min(size - copied, 1 << 20));
    copied += fs.readSync(fd, buffer, 0, buffer.length, copied);
    const lines = (partial + buffer.toString('utf8')).split('\n');
    partial = lines.pop();
    const event = /^\S+ (\[tunnel:[0-9a-f]+\] )?\[\w+\] (Tunnel |Daemon starting|Daemon shutting down)/;
    const events = lines.filter((line) => event.test(line));
    for (const line of events) process.stderr.write(`PREFIX${line}\n`);
  } catch {} finally { fs.closeSync(fd); }
}
process.stderr.write(`PREFIX(the events of ${daemonLog} follow, as the daemon logs them)\n`);
setInterval(copyDaemonLog, 500).unref();
function carry(visitor) {
  const path = net.connect(socket);
  visitor.on('error', () => path.destroy());
  path.on('error', () => visitor.destroy());
  visitor.pipe(path).pipe(visitor);
}
// A takeover (TAKEOVER_VARIABLE set): the first run of the container's life logs in once with +force and without
// reconnecting, then the client runs as its arguments say. The marker, on a disk-backed volume that outlives restarts,
// is written (and synced) before that forced login: a restart of the container (the engine's, the machine's, a crash)
// finds it and never forces again. No marker written, no force.
function takingOver() {
  if (process.env.TAKEOVER_VARIABLE !== '1') return false;
  try {
    fs.closeSync(fs.openSync('TAKEOVER_MARKER', 'wx', 0o644));
    const folder = fs.openSync(require('path').dirname('TAKEOVER_MARKER'), 'r');
    try { fs.fsyncSync(folder); } finally { fs.closeSync(folder); }
  } catch (error) {
    const why = error.code === 'EEXIST' ? 'this container took its session over before' : error.message;
    process.stderr.write(`PREFIX(tunnelctl's launcher: no takeover: ${why}; logging in without +force)\n`);
    return false;
  }
  return true;
}
// The arguments with --force (the CLI's flag for `+force`, which it reads wherever the token comes from) and without
// reconnecting (npm pinggy 0.5.3's flag; its README's `--autoreconnect false` is not what it parses), put before
// `-t`, which tunnelctl always writes; null without it.
function forcedOnce(args) {
  const at = args.indexOf('-t');
  return at < 0 ? null : [...args.slice(0, at), '--no-autoreconnect', '--force', ...args.slice(at)];
}
let client = null, stopping = false;
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => {
    stopping = true;
    if (client) client.kill(signal); else process.exit(128 + os.constants.signals[signal]);
  });
}
// The forced run ends when its session does: the CLI without reconnection only warns `Disconnected:` (on stderr) and
// waits.
function endOnDisconnect(forced) {
  let tail = '', ending = false;
  forced.stderr.on('data', (chunk) => {
    process.stderr.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-4096);
    if (tail.includes('Disconnected:') && !ending) {
      ending = true;
      forced.kill('SIGTERM');
      setTimeout(() => forced.kill('SIGKILL'), 3000).unref();
    }
  });
}
function run(args, forced) {
  client = spawn(args[0], args.slice(1), { stdio: forced ? ['inherit', 'inherit', 'pipe'] : 'inherit' });
  if (forced) endOnDisconnect(client);
  client.on('error', (error) => { console.error(`cannot run ${args[0]}: ${error.message}`); process.exit(127); });
  client.on('exit', (code, signal) => {
    copyDaemonLog();
    if (forced && !stopping) {
      process.stderr.write(`PREFIX(tunnelctl's launcher: the session taken over ended; logging in without +force)\n`);
      return run(command, false);
    }
    process.exit(code ?? 128 + (os.constants.signals[signal] || 0));
  });
}
function start() {
  const forced = forcedOnce(command);
  if (forced && takingOver()) run(forced, true); else run(command, false);
}
dns.lookup(host, { all: true }, (error, addresses) => {
  let pending = error ? 0 : addresses.length;
  if (!pending) return start();
  for (const { address } of addresses) {
    const done = () => { if (--pending === 0) start(); };
    net.createServer(carry).once('error', done).listen(Number(port), address, done);
  }
});
""".replace("PREFIX", DAEMON_LOG_LINE).replace("TAKEOVER_VARIABLE", TAKEOVER_VARIABLE).replace(
    "TAKEOVER_MARKER", TAKEOVER_MARKER)

# In the relay container, on the host network: argv = HOST PORT SOCKET. Each stream on the socket goes to the first
# address of HOST that accepts (as the client would have tried them).
RELAY = r"""'use strict';
const net = require('net'), dns = require('dns'), fs = require('fs');
const [host, port, socket] = process.argv.slice(1);
function reach(visitor) {
  let server = null;
  visitor.on('error', () => server && server.destroy());
  dns.lookup(host, { all: true }, (error, addresses) => {
    const attempt = (index) => {
      if (error || index >= addresses.length) return visitor.destroy();
      server = net.connect(Number(port), addresses[index].address);
      server.once('error', () => attempt(index + 1));
      server.once('connect', () => {
        server.removeAllListeners('error');
        server.on('error', () => visitor.destroy());
        visitor.pipe(server).pipe(visitor);
      });
    };
    attempt(0);
  });
}
fs.rmSync(socket, { force: true });  // what this container's previous run left
net.createServer(reach).listen(socket, () => fs.chmodSync(socket, 0o666));  // the tunnel's user may be another
"""

# in the spec hash: a change to any of them recreates the containers
PROGRAMS = digest([LAUNCHER, RELAY, SOCKET, SOCKET_VOLUME_OPTIONS])


def interpreter(entrypoint: list[str]) -> str:
    """node, as the image's own entrypoint names it when it runs node, else as PATH finds it."""
    if entrypoint and os.path.basename(entrypoint[0]) in ("node", "nodejs"):
        return entrypoint[0]
    return "node"


def launcher_entrypoint(entrypoint: list[str], host: str, port: int) -> list[str]:
    """The tunnel container's entrypoint: the launcher, then the image's own entrypoint (its arguments follow)."""
    return [interpreter(entrypoint), "-e", LAUNCHER, "--", host, str(port), SOCKET, *entrypoint]


def relay_entrypoint(entrypoint: list[str], host: str, port: int) -> list[str]:
    return [interpreter(entrypoint), "-e", RELAY, "--", host, str(port), SOCKET]


def taking_over(spec: ContainerSpec) -> ContainerSpec:
    """The spec of a container whose launcher logs in once with +force (LAUNCHER): its environment says so (outside
    the spec hash, which is the spec's own)."""
    return replace(spec, environment={**spec.environment, TAKEOVER_VARIABLE: "1"})


def takes_over(spec: ContainerSpec) -> bool:
    return spec.loopback_relay and spec.environment.get(TAKEOVER_VARIABLE) == "1"


def marks_archive() -> bytes:
    """What the engine puts into a takeover container's volume before its first start: the folder TAKEOVER_MARKS,
    sticky and writable by every user (a tar stream, for Docker's archive PUT)."""
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as archive:
        folder = tarfile.TarInfo(TAKEOVER_MARKS)
        folder.type, folder.mode = tarfile.DIRTYPE, 0o1777
        archive.addfile(folder)
    return stream.getvalue()
