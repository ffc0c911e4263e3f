"""Which files ``cutout remove`` reads and where it writes each result.

Inputs are files, folders (searched recursively for images), globs (expanded here too, so
quoted globs work the same on every shell) or ``-`` for stdin. Outputs:

- no ``-o``: ``<stem>.cutout.<ext>`` beside each input (stdin goes to stdout);
- one file input and ``-o FILE``: exactly that file (``-o -``: stdout);
- otherwise ``-o DIR``: each input's path relative to the folder or glob it came from,
  mirrored under DIR with the new extension.

An output that would overwrite an input, or that resolves outside DIR (through a symlink
or ``..``), is refused with :class:`OutputPathError`; that input fails, the rest go on.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from cutout.errors import OutputPathError

__all__ = [
    "IMAGE_SUFFIXES",
    "STDIO",
    "Found",
    "Job",
    "UsageError",
    "expand_inputs",
    "plan_jobs",
]

STDIO = "-"
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif", ".avif"}
)
_GLOB_CHARS = frozenset("*?[")


class UsageError(Exception):
    """The command line itself is wrong: exit code 2."""


@dataclass(frozen=True)
class Found:
    """One input file: ``relative`` is its path under the folder or glob it came from."""

    path: Path | None  # None: stdin
    relative: Path
    display: str
    single: bool  # named directly (not found in a folder or by a glob)


@dataclass(frozen=True)
class Job:
    """One image to process. ``output`` None means stdout; ``error`` is a planning failure."""

    source: Path | None
    display: str
    output: Path | None
    error: str | None = None


def _is_glob(text: str) -> bool:
    return any(char in _GLOB_CHARS for char in text)


def _glob_base(pattern: str) -> Path:
    """The folder part of ``pattern`` before its first wildcard."""
    parts = Path(pattern).parts
    base: list[str] = []
    for part in parts[:-1]:
        if _is_glob(part):
            break
        base.append(part)
    return Path(*base) if base else Path()


def _is_output_name(path: Path) -> bool:
    return ".cutout." in path.name


def _scan(folder: Path, skip: Path | None) -> list[Path]:
    """Image files under ``folder``, sorted, without hidden files or earlier outputs."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        dirs[:] = sorted(
            name
            for name in dirs
            if not name.startswith(".") and (skip is None or (root_path / name).resolve() != skip)
        )
        for name in sorted(files):
            path = root_path / name
            if (
                not name.startswith(".")
                and path.suffix.lower() in IMAGE_SUFFIXES
                and not _is_output_name(path)
            ):
                found.append(path)
    return found


def expand_inputs(
    inputs: list[str], *, skip_folder: Path | None = None
) -> tuple[list[Found], list[Job]]:
    """Expand the command line's inputs; returns the files and the inputs that failed.

    ``skip_folder`` (the output folder) is never searched, so a rerun does not pick up
    its own outputs.
    """
    if STDIO in inputs and len(inputs) > 1:
        raise UsageError("'-' (stdin) cannot be combined with other inputs")
    skip = skip_folder.resolve() if skip_folder is not None else None
    found: list[Found] = []
    failed: list[Job] = []
    seen: set[Path] = set()

    def add(path: Path, relative: Path, display: str, single: bool) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(Found(path, relative, display, single))

    for text in inputs:
        if text == STDIO:
            found.append(Found(None, Path("stdin"), "<stdin>", True))
            continue
        path = Path(text)
        if path.is_dir():
            for file in _scan(path, skip):
                add(file, file.relative_to(path), str(file), False)
        elif path.is_file():
            add(path, Path(path.name), text, True)
        elif _is_glob(text):
            base = _glob_base(text)
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                failed.append(Job(None, text, None, "no files match this pattern"))
            for match in matches:
                match_path = Path(match)
                if match_path.is_dir():
                    for file in _scan(match_path, skip):
                        add(file, file.relative_to(base), str(file), False)
                elif match_path.is_file():
                    add(match_path, match_path.relative_to(base), match, False)
        elif path.exists():
            failed.append(Job(None, text, None, "not a regular file or folder"))
        else:
            failed.append(Job(None, text, None, "no such file or directory"))
    return found, failed


def plan_jobs(
    found: list[Found], output: str | None, extension: str, *, arguments: int = 1
) -> list[Job]:
    """Decide each input's output path; refusals become jobs with an ``error``.

    ``arguments`` is how many inputs the command line named: ``-o`` names a file only
    when there was one, and it was a file.
    """
    stdin = len(found) == 1 and found[0].path is None
    single_file = arguments == 1 and len(found) == 1 and found[0].single
    if output == STDIO and not single_file:
        raise UsageError("-o - (stdout) needs exactly one input file")
    if output is not None and output != STDIO:
        out = Path(output)
        to_file = single_file and not out.is_dir() and not output.endswith(("/", os.sep))
        if not to_file and out.exists() and not out.is_dir():
            raise UsageError(f"-o {output}: several inputs need an output folder, not a file")
    else:
        to_file = False
    inputs = {item.path.resolve() for item in found if item.path is not None}

    jobs: list[Job] = []
    claimed: dict[Path, str] = {}
    for item in found:
        if output == STDIO or (stdin and output is None):
            jobs.append(Job(item.path, item.display, None))
            continue
        if output is None:
            assert item.path is not None
            target = item.path.with_name(f"{item.path.stem}.cutout.{extension}")
        elif to_file:
            target = Path(output)
        else:
            target = _mirrored(Path(output), item.relative, extension)
        try:
            _check(target, Path(output) if output and not to_file else None, inputs)
            key = target.resolve()
            if key in claimed:
                raise OutputPathError(f"output {target} is already written for {claimed[key]}")
            claimed[key] = item.display
        except OutputPathError as exc:
            jobs.append(Job(item.path, item.display, target, exc.message))
            continue
        jobs.append(Job(item.path, item.display, target))
    return jobs


def _mirrored(folder: Path, relative: Path, extension: str) -> Path:
    return folder / relative.parent / f"{relative.stem}.{extension}"


def _check(target: Path, folder: Path | None, inputs: set[Path]) -> None:
    resolved = target.resolve()
    if resolved in inputs:
        raise OutputPathError(f"refusing to overwrite the input file {target}")
    if folder is not None and not resolved.is_relative_to(folder.resolve()):
        raise OutputPathError(f"output path {target} escapes the output folder {folder}")
