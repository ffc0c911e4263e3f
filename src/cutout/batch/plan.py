"""What one shard of a batch has to do: which sources, which output names.

Pure: it works on the listings of SRC and DST (no reads, no writes), so every task of a
job, given the same listings, comes to the same answer without talking to the others.

- **Sources** are the files ``cutout remove`` would pick up in a folder: an image
  extension (the caller passes the set, the CLI's), no hidden part (``.x/`` or ``.x``),
  no earlier ``*.cutout.*`` output; and nothing under DST when DST is inside SRC.
- **Output names** follow ``cutout remove SRC -o DST``: the source's name with the
  extension of the output format, sub-folders kept (``shoes/red.jpg`` -> ``shoes/red.png``).
- **Refused** (reported as failed, with a reason): an output name that is not a plain
  relative name (``..``, empty parts, backslashes: Cloud Storage allows them, a folder
  must not); two sources that would make the same output (``a.jpg`` and ``a.webp``): the
  first by name keeps it, in every shard, so the next run does not undo this one's work;
  an output that would land inside SRC (SRC inside DST), where a rerun would read it back
  as a source.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from cutout.batch.locations import GcsLocation, LocalLocation, Location
from cutout.batch.shard import Shard
from cutout.batch.store import Item

__all__ = ["Plan", "Refusal", "Task", "is_source_name", "nested_prefix", "output_name", "plan"]

_OUTPUT_MARK = ".cutout."  # cutout remove's <stem>.cutout.<ext>, written beside an input


@dataclass(frozen=True)
class Task:
    """One source to judge and, if it is not up to date, to process.

    ``existing`` is the output as listed (``None``: there is none); from a folder its
    ``metadata`` is ``None`` until it is stat-ed."""

    source: Item
    output: str
    existing: Item | None


@dataclass(frozen=True)
class Refusal:
    """A source of this shard that gets no output, and why."""

    source: str
    output: str
    reason: str


@dataclass(frozen=True)
class Plan:
    tasks: list[Task]
    refused: list[Refusal]
    sources: int  # sources in SRC, all shards together

    @property
    def items(self) -> int:
        """This shard's items: to judge, and refused."""
        return len(self.tasks) + len(self.refused)


def output_name(source: str, extension: str) -> str:
    """``shoes/red.jpg`` -> ``shoes/red.png``: the mapping of ``cutout remove -o DIR``."""
    path = PurePosixPath(source)
    return str(path.with_name(f"{path.stem}.{extension}"))


def is_source_name(name: str, suffixes: Collection[str]) -> bool:
    """Whether ``name`` is a file ``cutout remove`` would take from a folder."""
    path = PurePosixPath(name)
    # "." and ".." are not hidden names but unsafe ones: they are taken, then refused
    hidden = any(part.startswith(".") and part not in (".", "..") for part in name.split("/"))
    return path.suffix.lower() in suffixes and not hidden and _OUTPUT_MARK not in path.name


def nested_prefix(inner: Location, outer: Location) -> str | None:
    """Where ``inner`` lies inside ``outer``, as a name prefix of ``outer`` (``""``: the
    same place, ``"cutouts/"``: a sub-folder), or ``None`` when it is not inside."""
    if isinstance(inner, GcsLocation) and isinstance(outer, GcsLocation):
        if inner.bucket != outer.bucket or not inner.prefix.startswith(outer.prefix):
            return None
        return inner.prefix[len(outer.prefix) :]
    if isinstance(inner, LocalLocation) and isinstance(outer, LocalLocation):
        inside, around = inner.path.resolve(), outer.path.resolve()
        if not inside.is_relative_to(around):
            return None
        relative = inside.relative_to(around).as_posix()
        return "" if relative == "." else relative + "/"
    return None


def plan(
    sources: Sequence[Item],
    outputs: Sequence[Item],
    shard: Shard,
    extension: str,
    *,
    suffixes: Collection[str],
    skip_prefix: str | None = None,
    guard_prefix: str | None = None,
) -> Plan:
    """The work of ``shard``, from the listings of SRC (``sources``) and DST (``outputs``).

    ``skip_prefix``: DST as seen from SRC (sources under it are outputs, not sources);
    ``guard_prefix``: SRC as seen from DST (outputs under it are refused).
    """
    candidates = [
        item
        for item in sources
        if is_source_name(item.name, suffixes)
        and not (skip_prefix and item.name.startswith(skip_prefix))
    ]
    # who makes each output, decided over every shard's sources so that all tasks agree
    makers: dict[str, str] = {}
    for item in sorted(candidates, key=lambda item: item.name):
        makers.setdefault(output_name(item.name, extension), item.name)
    existing = {item.name: item for item in outputs}
    tasks: list[Task] = []
    refused: list[Refusal] = []
    for item in candidates:
        if not shard.owns(item.name):
            continue
        target = output_name(item.name, extension)
        reason = _refusal(item.name, target, makers[target], guard_prefix)
        if reason is not None:
            refused.append(Refusal(item.name, target, reason))
        else:
            tasks.append(Task(item, target, existing.get(target)))
    return Plan(tasks, refused, len(candidates))


def _refusal(source: str, target: str, maker: str, guard_prefix: str | None) -> str | None:
    # the source's own name: PurePosixPath has already folded "a//b" and "./a" in target
    if any(part in ("", ".", "..") for part in source.split("/")) or any(
        char in source for char in "\\\x00"
    ):
        return f"{source!r} is not a plain relative name, so neither is its output's"
    if maker != source:
        return f"output {target} is made from {maker}, which has the same name and comes first"
    if guard_prefix is not None and target.startswith(guard_prefix):
        return f"output {target} would land inside SRC, where a rerun would read it as a source"
    return None
