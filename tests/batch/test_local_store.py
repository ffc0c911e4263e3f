"""LocalStore: temp file + rename, metadata in sidecars that must match their file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from cutout.batch.errors import StorageNotFoundError, StoragePermissionError
from cutout.batch.local import TMP_PREFIX, LocalStore
from cutout.batch.locations import LocalLocation, parse_location
from cutout.batch.provenance import Provenance, is_current, options_digest
from cutout.batch.stores import open_store
from cutout.errors import OutputPathError

DIGEST = options_digest({}, model="u2netp")


def test_a_missing_folder_is_an_error_unless_it_may_be_made(tmp_path: Path) -> None:
    with pytest.raises(StorageNotFoundError, match="does not exist"):
        LocalStore(LocalLocation(tmp_path / "in"))
    made = open_store(parse_location(str(tmp_path / "out" / "cut")), create=True)
    assert (tmp_path / "out" / "cut").is_dir() and made.list() == []
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(StorageNotFoundError, match="is not a folder"):
        LocalStore(tmp_path / "file.jpg")


@pytest.mark.parametrize(
    "name", ["", "/etc/passwd", "../up.png", "a/../../up.png", "a/./b.png", "a\\b.png", "dir/"]
)
def test_names_cannot_leave_the_folder(local_store: LocalStore, name: str) -> None:
    with pytest.raises(OutputPathError):
        local_store.write(name, b"x", {})


def test_a_write_killed_before_the_rename_leaves_nothing_visible(
    local_store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # stands for the process dying mid-write

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        local_store.write("out/a.png", b"half", {})
    monkeypatch.undo()
    assert local_store.list() == [] and local_store.stat("out/a.png") is None
    root = local_store.location.path
    assert list((root / "out").iterdir()) == []  # the temporary file went too


def test_leftover_temporary_files_of_a_dead_process_are_never_listed(
    local_store: LocalStore,
) -> None:
    root = local_store.location.path
    (root / "out").mkdir()
    (root / "out" / f"{TMP_PREFIX}0123abcd").write_bytes(b"partial")
    local_store.write("out/a.png", b"done", {})
    assert [item.name for item in local_store.list()] == ["out/a.png"]


def test_a_sidecar_that_does_not_match_its_file_is_ignored(local_store: LocalStore) -> None:
    local_store.write("in/a.jpg", b"source", {})
    source = local_store.list("in/")[0]
    local_store.write("out/a.png", b"cut", Provenance.of(source, DIGEST).to_metadata())
    output = local_store.stat("out/a.png")
    assert output is not None and is_current(output.metadata, source, DIGEST)

    path = local_store.location.path / "out" / "a.png"
    path.write_bytes(b"edited by hand")  # same inode, new time and size
    output = local_store.stat("out/a.png")
    assert output is not None and output.metadata == {}
    assert not is_current(output.metadata, source, DIGEST)


def test_a_crash_between_output_and_sidecar_never_looks_current(
    local_store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_store.write("in/a.jpg", b"source v1", {})
    old = local_store.list("in/")[0]
    local_store.write("out/a.png", b"cut v1", Provenance.of(old, DIGEST).to_metadata())
    local_store.write("in/a.jpg", b"source v2", {})
    new = local_store.list("in/")[0]

    real_replace = os.replace

    def replace(source: str, target: str) -> None:
        if "/.cutout/meta/" in str(target):
            raise KeyboardInterrupt  # killed after the output, before its sidecar
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        local_store.write("out/a.png", b"cut v2", Provenance.of(new, DIGEST).to_metadata())
    monkeypatch.undo()
    output = local_store.stat("out/a.png")
    assert output is not None and local_store.read("out/a.png") == b"cut v2"
    assert output.metadata == {}  # the old sidecar does not describe this file
    assert not is_current(output.metadata, new, DIGEST)


def test_create_only_works_without_hard_links(
    local_store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: str, target: str) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    assert local_store.write("a.png", b"first", {}, if_absent=True).written
    assert not local_store.write("a.png", b"second", {}, if_absent=True).written
    assert local_store.read("a.png") == b"first"


def test_os_errors_become_storage_errors(
    local_store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_store.write("a.png", b"x", {})

    def denied(self: Path) -> bytes:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(StoragePermissionError, match="Permission denied"):
        local_store.read("a.png")


def test_a_files_digest_is_its_sha256_computed_when_asked(local_store: LocalStore) -> None:
    local_store.write("a.jpg", b"abc", {})
    item = local_store.list()[0]
    assert "digest" not in vars(item)  # not computed by the listing
    assert item.digest == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
