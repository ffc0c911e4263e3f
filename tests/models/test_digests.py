"""The digest memo: a file hashed once is not hashed again while it is unchanged, and a
memo can skip a hash but never make a wrong file pass."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from cutout.errors import ChecksumError
from cutout.models import digests
from cutout.models.registry import get_spec
from cutout.models.spec import ModelSpec, WeightsSource
from cutout.models.weights import verify_file, weights_sha256

GOOD = b"the published weights"
WRONG = b"other weights, same len"
SECOND = 1_000_000_000


def _spec(data: bytes = GOOD) -> ModelSpec:
    """A record publishing only an md5, like the official InSPyReNet checkpoints."""
    source = WeightsSource(filename="w.pth", url="http://127.0.0.1:9/w.pth")
    source = replace(source, md5=hashlib.md5(data).hexdigest())
    return replace(get_spec("inspyrenet-fast"), name="test-model", weights=source)


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files hashed during the test (every full read goes through digests.compute)."""
    seen: list[Path] = []
    original = digests.compute

    def spy(path: Path, algorithms: tuple[str, ...]) -> dict[str, str]:
        seen.append(path)
        return original(path, algorithms)

    monkeypatch.setattr(digests, "compute", spy)
    return seen


def _file(tmp_path: Path, data: bytes = GOOD, mtime_ns: int | None = None) -> Path:
    path = tmp_path / "weights" / "w.pth"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_a_verified_file_is_not_hashed_again(tmp_path: Path, hashed: list[Path]) -> None:
    path, home = _file(tmp_path), tmp_path / "home"
    sha256 = verify_file(_spec(), path, home=home)
    assert sha256 == hashlib.sha256(GOOD).hexdigest()
    assert hashed == [path]
    assert verify_file(_spec(), path, home=home) == sha256
    assert weights_sha256(path, home=home) == sha256
    assert hashed == [path]  # both answered by the memo
    memo = json.loads(digests.memo_path(home, path).read_text())
    assert memo["digests"] == {"md5": hashlib.md5(GOOD).hexdigest(), "sha256": sha256}
    assert memo["file"] == {
        "path": str(path.resolve()),
        "size": len(GOOD),
        "mtime_ns": path.stat().st_mtime_ns,
    }


def test_fresh_always_hashes_and_refreshes_the_memo(tmp_path: Path, hashed: list[Path]) -> None:
    path, home = _file(tmp_path), tmp_path / "home"
    verify_file(_spec(), path, home=home)
    verify_file(_spec(), path, home=home, fresh=True)
    assert hashed == [path, path]
    verify_file(_spec(), path, home=home)
    assert len(hashed) == 2


def test_without_a_home_nothing_is_remembered(tmp_path: Path, hashed: list[Path]) -> None:
    path = _file(tmp_path)
    verify_file(_spec(), path)
    verify_file(_spec(), path)
    assert hashed == [path, path]


@pytest.mark.parametrize(
    "change",
    ["rewritten", "same size and time, other path", "resized", "time moved"],
)
def test_a_changed_file_is_hashed_again(tmp_path: Path, hashed: list[Path], change: str) -> None:
    home = tmp_path / "home"
    path = _file(tmp_path, mtime_ns=1_700_000_000 * SECOND + 123)
    verify_file(_spec(), path, home=home)
    if change == "rewritten":  # what a download, cp or an editor does: the time is now
        path.write_bytes(WRONG)
    elif change == "same size and time, other path":
        moved = path.with_name("moved.pth")
        path.rename(moved)
        path = moved
    elif change == "resized":
        path.write_bytes(GOOD + b"!")
        os.utime(path, ns=(1_700_000_000 * SECOND + 123,) * 2)
    else:
        os.utime(path, ns=(1_700_000_000 * SECOND + 124,) * 2)
    try:
        verify_file(_spec(), path, home=home)
    except ChecksumError:
        assert change in ("rewritten", "resized")
    assert len(hashed) == 2


def test_a_copy_that_lost_sub_second_time_still_matches(tmp_path: Path, hashed: list[Path]) -> None:
    """Image layers may keep whole seconds only: the memo written while the image was
    built must still match on the host that runs it."""
    home = tmp_path / "home"
    path = _file(tmp_path, mtime_ns=1_700_000_000 * SECOND + 700_000_000)
    verify_file(_spec(), path, home=home)
    os.utime(path, ns=(1_700_000_000 * SECOND,) * 2)  # truncated
    verify_file(_spec(), path, home=home)
    assert len(hashed) == 1
    os.utime(path, ns=(1_700_000_001 * SECOND,) * 2)  # rounded up
    verify_file(_spec(), path, home=home)
    assert len(hashed) == 1
    os.utime(path, ns=(1_700_000_002 * SECOND,) * 2)  # another second: another file
    verify_file(_spec(), path, home=home)
    assert len(hashed) == 2


def test_an_edited_memo_cannot_make_a_wrong_file_pass(tmp_path: Path, hashed: list[Path]) -> None:
    home = tmp_path / "home"
    path = _file(tmp_path, WRONG)
    with pytest.raises(ChecksumError):
        verify_file(_spec(), path, home=home)
    memo = digests.memo_path(home, path)
    record = json.loads(memo.read_text())
    record["digests"]["md5"] = hashlib.md5(GOOD).hexdigest()  # claims the published digest
    memo.write_text(json.dumps(record))
    with pytest.raises(ChecksumError, match="does not match"):
        verify_file(_spec(), path, home=home)
    assert len(hashed) == 2  # the edited memo was ignored: the file was hashed again


@pytest.mark.parametrize("damage", ["truncated", "not json", "other version", "group-writable"])
def test_a_damaged_or_foreign_memo_is_ignored(
    tmp_path: Path, hashed: list[Path], damage: str
) -> None:
    home = tmp_path / "home"
    path = _file(tmp_path)
    verify_file(_spec(), path, home=home)
    memo = digests.memo_path(home, path)
    text = memo.read_text()
    if damage == "truncated":
        memo.write_text(text[: len(text) // 2])
    elif damage == "not json":
        memo.write_bytes(b"\x00\xff")
    elif damage == "other version":
        record = json.loads(text)
        record["version"] = 999
        memo.write_text(json.dumps(record))
    else:  # someone else could have written it
        memo.chmod(0o664)
    assert verify_file(_spec(), path, home=home) == hashlib.sha256(GOOD).hexdigest()
    assert len(hashed) == 2


def test_a_memo_for_another_file_does_not_apply(tmp_path: Path, hashed: list[Path]) -> None:
    """Copying a good file's memo to a wrong file's key: the path inside it differs."""
    home = tmp_path / "home"
    good = _file(tmp_path, mtime_ns=1_700_000_000 * SECOND)
    wrong = good.with_name("wrong.pth")
    wrong.write_bytes(WRONG)
    os.utime(wrong, ns=(1_700_000_000 * SECOND,) * 2)  # same size, same time
    verify_file(_spec(), good, home=home)
    target = digests.memo_path(home, wrong)
    target.write_bytes(digests.memo_path(home, good).read_bytes())
    with pytest.raises(ChecksumError):
        verify_file(_spec(), wrong, home=home)


def test_a_file_changed_while_hashed_is_not_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    path = _file(tmp_path)
    original = digests.compute

    def racing(target: Path, algorithms: tuple[str, ...]) -> dict[str, str]:
        found = original(target, algorithms)
        target.write_bytes(WRONG)  # replaced meanwhile
        return found

    monkeypatch.setattr(digests, "compute", racing)
    verify_file(_spec(), path, home=home)
    assert not digests.memo_path(home, path).exists()


def test_a_read_only_cache_costs_only_the_hash(tmp_path: Path, hashed: list[Path]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "digests").write_text("a file where the folder would be")
    path = _file(tmp_path)
    assert verify_file(_spec(), path, home=home) == hashlib.sha256(GOOD).hexdigest()
    assert verify_file(_spec(), path, home=home) == hashlib.sha256(GOOD).hexdigest()
    assert len(hashed) == 2


def test_remembered_digests_merge(tmp_path: Path, hashed: list[Path]) -> None:
    """A user file identified by sha256 alone, later checked against an md5 record."""
    home = tmp_path / "home"
    path = _file(tmp_path)
    weights_sha256(path, home=home)
    verify_file(_spec(), path, home=home)  # md5 not remembered yet: hashed
    verify_file(_spec(), path, home=home)
    weights_sha256(path, home=home)
    assert len(hashed) == 2
    assert set(json.loads(digests.memo_path(home, path).read_text())["digests"]) == {
        "md5",
        "sha256",
    }
