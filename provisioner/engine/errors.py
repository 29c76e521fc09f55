"""What went wrong between tunnelctl, the Docker engine and its registry, told apart, each with the fix for its cause.

docker-py raises requests' exceptions for a transport that fails and `APIError` (a subclass of requests' `HTTPError`)
for an engine that answered with a refusal; a pull's registry trouble arrives as the engine's own text. These pure
functions turn each into one line; the engine adapter decides which applies.
"""

from __future__ import annotations

import re

# Docker's answers to an API version it does not speak (Docker 20.10 through 29).
_TOO_NEW = re.compile(r"client version (\S+) is too new\. Maximum supported API version is (\S+)", re.IGNORECASE)
_TOO_OLD = re.compile(r"client version (\S+) is too old\. Minimum supported API version is ([\d.]+)", re.IGNORECASE)

# How the engine words a registry it could not talk to (DNS, routing, refusal, proxy, TLS, time-outs).
_UNREACHABLE = re.compile(
    r"no such host|dial tcp|connection refused|i/o timeout|network is unreachable|no route to host|"
    r"tls handshake timeout|request canceled|client\.timeout|server misbehaving|proxyconnect|"
    r"x509:|certificate signed by unknown authority|http: server gave http response to https client",
    re.IGNORECASE)
# …and a registry that answered: no such repository or tag, or not without credentials.
_ABSENT_OR_DENIED = re.compile(
    r"manifest unknown|not found|does not exist|pull access denied|unauthorized|denied|no basic auth credentials|"
    r"authentication required|name unknown", re.IGNORECASE)



def permission_fix(setting: str) -> str:
    """`setting` is what names the socket: DOCKER_HOST, or the manifest's engines.NAME.docker."""
    return ("add your user to the 'docker' group (sudo usermod -aG docker $USER, then log in again), or point "
            f"{setting} at a socket you may open: rootless Docker's unix://$XDG_RUNTIME_DIR/docker.sock or "
            "Podman's unix://$XDG_RUNTIME_DIR/podman/podman.sock (systemctl --user start podman.socket)")


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception: requests wraps urllib3, which wraps the socket's own error."""
    while error.__cause__ or error.__context__ or (error.args and isinstance(error.args[0], BaseException)):
        error = error.__cause__ or error.__context__ or error.args[0]
    return error


def describe(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.lower() if text else type(error).__name__


def unreachable(error: BaseException, where: str, what: str, hint: str, setting: str = "DOCKER_HOST") -> str:
    """A transport failure: the engine's socket is missing, nobody serves it, or the user may not open it."""
    cause = root_cause(error)
    if isinstance(cause, PermissionError):
        return f"permission denied on the Docker engine's socket at {where} while {what}: {permission_fix(setting)}"
    return f"cannot reach the Docker engine at {where} while {what}: {describe(cause)}; {hint}"


def is_version_refusal(explanation: str) -> bool:
    return bool(_TOO_NEW.search(explanation) or _TOO_OLD.search(explanation))


def refused(explanation: str, endpoint: str, what: str, api_version: str, pinned_by_user: bool) -> str:
    """The engine answered but refused: an API version it does not speak, or its own reason."""
    too_new, too_old = _TOO_NEW.search(explanation), _TOO_OLD.search(explanation)
    version_refusal = too_new or too_old
    if version_refusal:
        supported = version_refusal.group(2)
        if pinned_by_user:
            fix = f"set DOCKER_API_VERSION={supported}, or unset it"
        elif too_new:
            fix = (f"upgrade that engine to Docker 20.10 or later, or set DOCKER_API_VERSION={supported} "
                   "(older engines may lack what tunnelctl uses)")
        else:
            fix = f"set DOCKER_API_VERSION={supported}"
        limit = "at most" if too_new else "at least"
        return (f"the Docker engine at {endpoint} does not speak Docker API {api_version} (it needs {limit} "
                f"{supported}): {fix}")
    return f"the Docker engine at {endpoint} refused {what}: {explanation}"


def registry_of(image: str) -> str:
    """The registry an image reference names: its first part when that looks like a host, else Docker Hub."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "registry-1.docker.io (Docker Hub)"


def pull_failed(image: str, explanation: str, endpoint: str) -> str:
    """Why the engine could not pull `image`, with the fix for that cause."""
    registry = registry_of(image)
    reason = explanation.strip().splitlines()[0] if explanation.strip() else "no reason given"
    if _UNREACHABLE.search(reason):
        return (f"cannot pull image '{image}': the engine at {endpoint} cannot reach the registry {registry} "
                f"({reason}): load the image another way (docker save on a machine that has it, docker load here), "
                "or name a registry mirror it can reach in `image:`")
    if _ABSENT_OR_DENIED.search(reason):
        return (f"cannot pull image '{image}': the registry {registry} has no such image, or refuses it without a "
                f"login ({reason}): check the name and tag in `image:`, or log the engine in (docker login "
                f"{registry.partition(' ')[0]})")
    return f"cannot pull image '{image}': the engine at {endpoint} says: {reason}"
