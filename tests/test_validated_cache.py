"""A manifest found valid once is not validated again while it and the schema stay the same; a manifest that reads
the environment is never remembered, and nothing the environment holds reaches the cache."""

from __future__ import annotations

import pytest

from conftest import manifest_text
from provisioner import manifest
from provisioner.errors import ManifestError
from provisioner.manifest import schema, validated

PLAIN = manifest_text("""
    version: 1
    project: p
    tunnels:
      - {name: a, port: 3000, token: tok123, image: "img:1"}
""")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "tunnelctl" / "valid-manifests"


def test_an_unchanged_manifest_skips_the_schema_the_second_time(tmp_path, cache, monkeypatch):
    path = tmp_path / "tunnels.yaml"
    path.write_text(PLAIN)
    manifest.load(path, {})
    assert len(cache.read_text().split()) == 1

    def no_schema(*args):
        raise AssertionError("validated again")

    monkeypatch.setattr(schema, "_problems", no_schema)
    assert [tunnel.name for tunnel in manifest.load(path, {}).tunnels] == ["a"]


def test_an_edited_manifest_is_validated_again(tmp_path, cache):
    path = tmp_path / "tunnels.yaml"
    path.write_text(PLAIN)
    manifest.load(path, {})
    path.write_text(PLAIN.replace("port: 3000", "port: '3000'"))
    with pytest.raises(ManifestError):
        manifest.load(path, {})
    assert len(cache.read_text().split()) == 1  # an invalid manifest is never remembered


def test_a_manifest_reading_the_environment_is_not_remembered(tmp_path, cache):
    path = tmp_path / "tunnels.yaml"
    path.write_text(PLAIN.replace("tok123", '"{{ env.PINGGY_TOKEN }}"'))
    manifest.load(path, {"PINGGY_TOKEN": "secret-token-value"})
    assert not cache.exists()


def test_the_cache_keeps_only_the_newest_digests(cache):
    for number in range(validated.REMEMBERED + 5):
        validated.remember(f"{number:064x}")
    kept = cache.read_text().split()
    assert len(kept) == validated.REMEMBERED and kept[-1] == f"{validated.REMEMBERED + 4:064x}"
    assert not validated.known(f"{0:064x}") and validated.known(kept[0])


def test_types_that_json_would_merge_are_told_apart():
    assert validated.document_digest({"port": 1}, "rules") != validated.document_digest({"port": "1"}, "rules")
    assert validated.document_digest({"when": object()}, "rules") is None
