"""``cutout batch`` as a command, in this process, with the real u2netp model: the remove
options, reruns, stale outputs, bad items, shards from Cloud Run's variables, usage and
storage errors. (Real processes, kills and signals: test_batch_jobs.py.)"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from cutout.cli.main import build_parser, main
from tests.batch.photos import catalogue
from tests.corpus import text_named_png, truncated_jpeg
from tests.fakes.storage import FakeStorage
from tests.fakes.storage_fixtures import BUCKET, fake_storage, storage_client

__all__ = ["fake_storage", "storage_client"]

PHOTOS = catalogue(6, side=200)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    source = tmp_path / "in"
    for name, data in PHOTOS.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    return source


def batch(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, list[str]]:
    code = main(["batch", *map(str, args)])
    return code, capsys.readouterr().err.splitlines()


def report(dst: Path, name: str = "shard-0-of-1") -> dict[str, dict[str, Any]]:
    text = (dst / ".cutout" / "reports" / f"{name}.jsonl").read_text()
    return {line["source"]: line for line in map(json.loads, text.splitlines())}


def statuses(dst: Path, name: str = "shard-0-of-1") -> dict[str, str]:
    return {source: line["status"] for source, line in report(dst, name).items()}


def _flags(command: str) -> dict[str, argparse.Action]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        flag: action
        for action in subparsers.choices[command]._actions
        for flag in action.option_strings
    }


def test_every_remove_option_is_a_batch_option_with_the_same_definition() -> None:
    remove, batch_flags = _flags("remove"), _flags("batch")
    own = {"-o", "--output", "--skip-existing", "--report", "--quiet", "-q", "-h", "--help"}
    for flag, action in remove.items():
        if flag in own:
            continue
        theirs = batch_flags[flag]
        same = ("dest", "choices", "type", "metavar", "nargs", "const", "default")
        assert [getattr(theirs, a) for a in same] == [getattr(action, a) for a in same], flag


def test_a_folder_is_done_then_skipped_then_redone_when_an_option_changes(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, err = batch(capsys, folder, out)
    assert code == 0, err
    assert statuses(out) == dict.fromkeys(PHOTOS, "done")
    # each cut-out made reports its confidence, for sending doubtful ones to a person
    assert all(0.0 <= line["confidence"] <= 1.0 for line in report(out).values())
    outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert outputs == sorted(name.replace(".jpg", ".png") for name in PHOTOS)
    assert err[-1].startswith(f"cutout: shard 0/1 of {folder} -> {out}: 6 items: 6 done, 0 skipped")
    assert err[-1].endswith(f"; report {out}/.cutout/reports/shard-0-of-1.jsonl")
    made = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}

    code, err = batch(capsys, folder, out)
    assert code == 0 and statuses(out) == dict.fromkeys(PHOTOS, "skipped")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == made

    code, err = batch(capsys, folder, out, "--bg", "white", "--crop")
    assert code == 0 and statuses(out) == dict.fromkeys(PHOTOS, "done")
    code, err = batch(capsys, folder, out, "--crop", "--bg", "#ffffff")  # the same options
    assert code == 0 and statuses(out) == dict.fromkeys(PHOTOS, "skipped")
    code, err = batch(capsys, folder, out, "--format", "webp", "-q")  # new outputs
    assert code == 0 and statuses(out) == dict.fromkeys(PHOTOS, "done")
    assert len(list(out.rglob("*.webp"))) == 6 and len(err) == 1


def test_batch_writes_the_bytes_cutout_remove_writes(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = [
        "--canvas",
        "300x300",
        "--fill",
        "70%",
        "--shadow",
        "--bg",
        "white",
        "--format",
        "jpg",
    ]
    assert main(["batch", str(folder), str(tmp_path / "batch"), *options]) == 0
    assert main(["remove", str(folder), "-o", str(tmp_path / "remove"), *options]) == 0
    capsys.readouterr()
    for name in PHOTOS:
        output = name  # jpg in, jpg out: the same name
        assert (tmp_path / "batch" / output).read_bytes() == (
            tmp_path / "remove" / output
        ).read_bytes()


def test_bad_items_fail_and_the_rest_is_done(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for case in (truncated_jpeg(), text_named_png()):
        (folder / "broken" / case.name).parent.mkdir(exist_ok=True)
        (folder / "broken" / case.name).write_bytes(case.data)
    out = tmp_path / "out"
    code, err = batch(capsys, folder, out)
    assert code == 1
    lines = report(out)
    assert {s: line["status"] for s, line in lines.items()} == {
        **dict.fromkeys(PHOTOS, "done"),
        "broken/truncated.jpg": "failed",
        "broken/notes.png": "failed",
    }
    assert set(lines["broken/truncated.jpg"]) == {"source", "output", "status", "error", "seconds"}
    failures = [line for line in err if line.startswith("cutout: broken/")]
    assert len(failures) == 2 and "truncated" in " ".join(failures)
    assert "6 done, 0 skipped (up to date), 2 failed" in err[-1]
    # a retry redoes only the failures (and they fail again)
    code, err = batch(capsys, folder, out)
    assert code == 1 and list(statuses(out).values()).count("skipped") == 6


def test_cloud_run_task_variables_choose_the_shard(
    folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cutout.batch.shard import shard_of

    monkeypatch.setenv("CLOUD_RUN_TASK_INDEX", "1")
    monkeypatch.setenv("CLOUD_RUN_TASK_COUNT", "2")
    monkeypatch.setenv("CLOUD_RUN_EXECUTION", "catalogue-abc12")
    out = tmp_path / "out"
    code, err = batch(capsys, folder, out)
    assert code == 0, err
    mine = sorted(name for name in PHOTOS if shard_of(name, 2) == 1)
    assert 0 < len(mine) < len(PHOTOS)
    assert sorted(statuses(out, "shard-1-of-2")) == mine
    code, _ = batch(capsys, folder, out, "--shard", "0/2")  # the flag wins
    assert sorted(statuses(out, "shard-0-of-2")) == sorted(set(PHOTOS) - set(mine))


def test_from_cloud_storage_to_cloud_storage(
    fake_storage: FakeStorage,
    storage_client: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, data in PHOTOS.items():
        fake_storage.put(BUCKET, f"raw/{name}", data)
    fake_storage.put(BUCKET, "raw/readme.txt", b"not a photo")
    code, err = batch(capsys, f"gs://{BUCKET}/raw", f"gs://{BUCKET}/raw/cutouts")  # DST in SRC
    assert code == 0, err
    names = fake_storage.names(BUCKET)
    assert sorted(
        n for n in names if n.startswith("raw/cutouts/") and n.endswith(".png")
    ) == sorted(f"raw/cutouts/{name.replace('.jpg', '.png')}" for name in PHOTOS)
    obj = fake_storage.object(BUCKET, "raw/cutouts/sku-000.png")
    assert obj is not None and obj.content_type == "image/png"
    assert obj.metadata["cutout-source"] == "sku-000.jpg"
    assert obj.metadata["cutout-options"].startswith("sha256:")
    code, err = batch(capsys, f"gs://{BUCKET}/raw", f"gs://{BUCKET}/raw/cutouts")
    assert code == 0 and "0 done, 6 skipped" in err[-1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--shard", "2/2"],
            "cutout: error: --shard '2/2': I counts from 0, so it must be below 2",
        ),
        (["--shard", "x"], "cutout: error: --shard 'x': expected I/N, e.g. 0/4"),
        (["--margin", "5"], "cutout: error: --margin needs --crop"),
        (["--io-threads", "0"], "cutout: error: argument --io-threads: expected a whole number"),
        (["--nope"], "cutout: error: unrecognized arguments: --nope"),
    ],
)
def test_usage_errors_exit_2_and_touch_nothing(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    try:
        code = main(["batch", str(folder), str(tmp_path / "out"), *args])
    except SystemExit as exc:  # argparse's own errors
        code = int(str(exc.code))
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and err[-1].startswith(says)
    assert [line for line in err if line.startswith("cutout:")] == [err[-1]]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("src", "dst", "says"),
    [
        ("gs:/shop/in", "out", "SRC 'gs:/shop/in' looks like Cloud Storage but is not"),
        ("in", "s3://bucket/out", "DST 's3://bucket/out' uses s3:, which cutout cannot read"),
        ("gs://UPPER/x", "out", "has an invalid bucket name 'UPPER'"),
        ("in", "in/.", "DST 'in/.' is SRC: outputs would be read back as sources"),
    ],
)
def test_bad_locations_are_usage_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    src: str,
    dst: str,
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    code, err = batch(capsys, src, dst)
    assert code == 2 and len(err) == 1 and err[0].startswith("cutout: error: ") and says in err[0]
    assert not (tmp_path / "out").exists()


def test_a_missing_folder_or_bucket_and_a_denied_listing_exit_1(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fake_storage: FakeStorage,
    storage_client: Any,
) -> None:
    code, err = batch(capsys, tmp_path / "none", tmp_path / "out")
    assert (code, err) == (1, [f"cutout: folder {tmp_path / 'none'} does not exist"])
    code, err = batch(capsys, "gs://no-such-bucket/in", tmp_path / "out")
    assert code == 1 and len(err) == 1
    assert err[0].startswith("cutout: list gs://no-such-bucket/in/: not found")
    fake_storage.fail_next(1, status=403, method="GET", path_contains="/o")
    code, err = batch(capsys, f"gs://{BUCKET}/in", tmp_path / "out")
    assert code == 1 and len(err) == 1
    assert err[0].startswith(f"cutout: list gs://{BUCKET}/in/: permission denied")


def test_a_pause_without_a_sigcont_ends_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal
    import threading

    from cutout.batch.pipeline import Control
    from cutout.cli import batch as command

    monkeypatch.setattr(command, "_PAUSE_LIMIT_S", 0.01)
    interrupts = command._Interrupts(Control(), cloud_run=True)
    assert set(interrupts.callbacks()) == {
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGTSTP,
        signal.SIGCONT,
    }
    interrupts.pause(signal.SIGTSTP)
    assert interrupts.control.paused
    for _ in range(3000):
        if not interrupts.control.paused:
            break
        threading.Event().wait(0.01)
    assert not interrupts.control.paused
    # an earlier pause's timer never ends a later pause
    monkeypatch.setattr(command, "_PAUSE_LIMIT_S", 3600)
    interrupts.pauses += 1  # as if a pause had come and gone meanwhile
    interrupts.control.pause()
    interrupts._resume_pause(interrupts.pauses - 1)
    assert interrupts.control.paused
    assert set(command._Interrupts(Control(), cloud_run=False).callbacks()) == {
        signal.SIGTERM,
        signal.SIGINT,
    }
