"""Input expansion and output mapping of ``cutout remove`` (pure path logic, no model)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cutout.cli._paths import UsageError, expand_inputs, plan_jobs


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_folder_is_searched_recursively_for_images_only(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.jpg", "in/sub/b.PNG", "in/notes.txt", "in/.hidden.jpg")
    _touch(tmp_path, "in/.cache/c.jpg", "in/a.cutout.png")
    found, failed = expand_inputs([str(tmp_path / "in")])
    assert failed == []
    assert [item.relative for item in found] == [Path("a.jpg"), Path("sub/b.PNG")]
    assert not any(item.single for item in found)


def test_output_folder_inside_input_folder_is_not_searched(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.jpg", "in/out/a.png")
    found, _ = expand_inputs([str(tmp_path / "in")], skip_folder=tmp_path / "in" / "out")
    assert [item.relative for item in found] == [Path("a.jpg")]


def test_glob_is_expanded_relative_to_its_folder(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.jpg", "in/sub/b.jpg", "in/sub/c.png")
    found, failed = expand_inputs([str(tmp_path / "in" / "**" / "*.jpg")])
    assert failed == []
    assert [item.relative for item in found] == [Path("a.jpg"), Path("sub/b.jpg")]


def test_missing_inputs_and_empty_globs_fail_one_by_one(tmp_path: Path) -> None:
    _touch(tmp_path, "a.jpg")
    found, failed = expand_inputs(
        [str(tmp_path / "a.jpg"), str(tmp_path / "nope.jpg"), str(tmp_path / "*.webp")]
    )
    assert len(found) == 1
    assert [(job.display, job.error) for job in failed] == [
        (str(tmp_path / "nope.jpg"), "no such file or directory"),
        (str(tmp_path / "*.webp"), "no files match this pattern"),
    ]


def test_duplicates_are_processed_once(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.jpg")
    found, _ = expand_inputs([str(tmp_path / "in"), str(tmp_path / "in" / "a.jpg")])
    assert len(found) == 1


def test_stdin_cannot_be_mixed(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="stdin"):
        expand_inputs(["-", str(tmp_path)])


def test_default_output_is_beside_the_input(tmp_path: Path) -> None:
    _touch(tmp_path, "photo.jpeg")
    found, _ = expand_inputs([str(tmp_path / "photo.jpeg")])
    [job] = plan_jobs(found, None, "webp")
    assert job.output == tmp_path / "photo.cutout.webp"
    assert job.error is None


def test_single_input_with_output_file(tmp_path: Path) -> None:
    _touch(tmp_path, "photo.jpg")
    found, _ = expand_inputs([str(tmp_path / "photo.jpg")])
    [job] = plan_jobs(found, str(tmp_path / "result.png"), "png")
    assert job.output == tmp_path / "result.png"


def test_single_input_with_trailing_slash_means_folder(tmp_path: Path) -> None:
    _touch(tmp_path, "photo.jpg")
    found, _ = expand_inputs([str(tmp_path / "photo.jpg")])
    [job] = plan_jobs(found, str(tmp_path / "out") + os.sep, "png")
    assert job.output == tmp_path / "out" / "photo.png"


def test_folder_is_mirrored_under_output_folder(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.jpg", "in/sub/deeper/b.jpg")
    found, _ = expand_inputs([str(tmp_path / "in")])
    jobs = plan_jobs(found, str(tmp_path / "out"), "png")
    assert [job.output for job in jobs] == [
        tmp_path / "out" / "a.png",
        tmp_path / "out" / "sub" / "deeper" / "b.png",
    ]


def test_output_equal_to_input_is_refused(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.png", "in/b.jpg")
    found, _ = expand_inputs([str(tmp_path / "in")])
    jobs = plan_jobs(found, str(tmp_path / "in"), "png")
    assert jobs[0].error is not None and "overwrite the input" in jobs[0].error
    assert jobs[1].error is None and jobs[1].output == tmp_path / "in" / "b.png"


def test_single_output_file_equal_to_input_is_refused(tmp_path: Path) -> None:
    _touch(tmp_path, "a.png")
    found, _ = expand_inputs([str(tmp_path / "a.png")])
    [job] = plan_jobs(found, str(tmp_path / "a.png"), "png")
    assert job.error is not None and "overwrite the input" in job.error


def test_output_escaping_through_a_symlink_is_refused(tmp_path: Path) -> None:
    _touch(tmp_path, "in/sub/a.jpg", "in/b.jpg")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(tmp_path / "elsewhere")
    found, _ = expand_inputs([str(tmp_path / "in")])
    jobs = {job.display: job for job in plan_jobs(found, str(tmp_path / "out"), "png")}
    escaped = jobs[str(tmp_path / "in" / "sub" / "a.jpg")]
    assert escaped.error is not None and "escapes the output folder" in escaped.error
    assert jobs[str(tmp_path / "in" / "b.jpg")].error is None


def test_two_inputs_for_one_output_are_refused(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.jpg", "in/a.webp")
    found, _ = expand_inputs([str(tmp_path / "in")])
    jobs = plan_jobs(found, str(tmp_path / "out"), "png")
    assert jobs[0].error is None
    assert jobs[1].error is not None and "already written for" in jobs[1].error


def test_several_inputs_need_a_folder_not_a_file(tmp_path: Path) -> None:
    _touch(tmp_path, "a.jpg", "b.jpg", "existing.png")
    found, _ = expand_inputs([str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")])
    with pytest.raises(UsageError, match="output folder"):
        plan_jobs(found, str(tmp_path / "existing.png"), "png")


def test_stdout_needs_exactly_one_input(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.jpg", "in/b.jpg")
    found, _ = expand_inputs([str(tmp_path / "in")])
    with pytest.raises(UsageError, match="stdout"):
        plan_jobs(found, "-", "png")


def test_stdin_goes_to_stdout_by_default() -> None:
    found, _ = expand_inputs(["-"])
    [job] = plan_jobs(found, None, "png")
    assert job.source is None and job.output is None
