"""Running the tests costs the machine nothing: its own Docker engine is the very process it was when the session
began, and a container on the default bridge still starts. Collected last (conftest.py), after every other test."""

from __future__ import annotations

from conftest import MACHINE_ENGINE_AT_START, SLEEPER_IMAGE, machine_dockerd


def test_the_machines_engine_is_left_as_the_suite_found_it(docker_api, request):
    at_start = request.config.stash[MACHINE_ENGINE_AT_START]
    assert at_start is not None, "no dockerd of the machine's ran when the session began (/var/run/docker.pid)"
    assert machine_dockerd() == at_start, "the machine's dockerd is not the process it was when the session began"

    # What a user notices first when the engine was replaced or lost docker0: `docker run` on the default bridge.
    container = docker_api.create_container(SLEEPER_IMAGE, host_config=docker_api.create_host_config(auto_remove=True))
    try:
        docker_api.start(container["Id"])
        network = docker_api.inspect_container(container["Id"])["NetworkSettings"]["Networks"]["bridge"]
        assert network["IPAddress"] and network["Gateway"], network
    finally:
        docker_api.remove_container(container["Id"], force=True)
