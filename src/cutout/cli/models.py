"""``cutout models list|pull|verify|export-onnx``: the registry, the weights cache,
explicit downloads, and the ONNX export of InSPyReNet checkpoints.

Each subcommand is one ``_register_<name>`` function plus one ``_<name>`` handler; to add
a subcommand, write both and call the register function from :func:`register`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cutout.models.spec import ModelSpec

    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["WeightsState", "register", "weights_state"]


def register(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list, download and verify models",
        description="The models cutout knows, where their weights are, and how to get them.",
    )
    commands = parser.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)
    _register_list(commands)
    _register_pull(commands)
    _register_verify(commands)
    _register_export_onnx(commands)


# -- shared -----------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightsState:
    """Where a model's weights are (or would be) and whether they are there."""

    path: Path
    source: str  # "embedded" | "cache"
    present: bool


def weights_state(spec: ModelSpec, home: Path) -> WeightsState:
    from cutout.models.weights import cache_dir, embedded_path

    if spec.weights.embedded:
        path = embedded_path(spec)
        return WeightsState(path, "embedded", path.is_file())
    path = cache_dir(home) / spec.weights.filename
    return WeightsState(path, "cache", path.is_file())


def _home() -> Path:
    """The cache folder of the settings (``CUTOUT_HOME``)."""
    from cutout.config import load_settings

    return load_settings().home


def _model_names() -> tuple[str, ...]:
    from cutout.models.registry import model_names

    return model_names()


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


# -- list -------------------------------------------------------------------------------
def _register_list(commands: _Subparsers) -> None:
    parser = commands.add_parser("list", help="models, their weights and licences")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=_list)


def _list(args: argparse.Namespace) -> int:
    from cutout.models.registry import all_specs

    records = []
    home = _home()
    for spec in all_specs():
        state = weights_state(spec, home)
        records.append(
            {
                "name": spec.name,
                "family": spec.family,
                "input_size": spec.input_size,
                "backend": spec.backend,
                "weights": str(state.path),
                "weights_source": state.source,
                "present": state.present,
                "url": spec.weights.url,
                "licence": spec.licence,
                "description": spec.description,
            }
        )
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    rows = [["NAME", "FAMILY", "INPUT", "BACKEND", "WEIGHTS", "LICENCE", "LOCATION"]]
    for record in records:
        status = "embedded" if record["weights_source"] == "embedded" else "missing"
        if record["present"] and status != "embedded":
            status = "present"
        rows.append(
            [
                str(record["name"]),
                str(record["family"]),
                f"{record['input_size']}px",
                str(record["backend"]),
                status,
                str(record["licence"]).split(" (")[0],
                str(record["weights"]),
            ]
        )
    print(_table(rows))
    return 0


# -- pull -------------------------------------------------------------------------------
def _register_pull(commands: _Subparsers) -> None:
    parser = commands.add_parser("pull", help="download a model's weights into the cache")
    parser.add_argument("name", choices=_model_names(), metavar="NAME")
    parser.add_argument("--force", action="store_true", help="download even if cached")
    parser.add_argument("--url", help="download from this URL instead (a mirror)")
    parser.set_defaults(func=_pull)


def _pull(args: argparse.Namespace) -> int:
    from cutout.models.download import download
    from cutout.models.registry import get_spec
    from cutout.models.weights import embedded_path, verify_file

    spec = get_spec(args.name)
    if spec.weights.embedded and args.url is None:
        path = embedded_path(spec)
        sha256 = verify_file(spec, path)
        print(f"{spec.name}: ships inside cutout ({path}); sha256 {sha256} verified")
        return 0
    bar = _DownloadBar(spec.name) if sys.stderr.isatty() else None
    result = download(spec, home=_home(), url=args.url, force=args.force, progress=bar)
    if bar is not None:
        bar.close()
    if not result.downloaded:
        print(f"{spec.name}: already in the cache ({result.path}); sha256 {result.sha256}")
        return 0
    how = " (resumed)" if result.resumed else ""
    check = "verified" if result.verified else "NOT verified: no published digest"
    print(f"{spec.name}: downloaded{how} to {result.path}; sha256 {result.sha256} {check}")
    return 0


class _DownloadBar:
    def __init__(self, name: str) -> None:
        self.name = name
        self.shown = False

    def __call__(self, done: int, total: int | None) -> None:
        size = f"{done / 1e6:.1f}" + (f"/{total / 1e6:.1f}" if total else "")
        percent = f" {100 * done / total:3.0f}%" if total else ""
        sys.stderr.write(f"\r\x1b[K{self.name}: {size} MB{percent}")
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


# -- verify -----------------------------------------------------------------------------
def _register_verify(commands: _Subparsers) -> None:
    parser = commands.add_parser("verify", help="check weights against their checksums")
    parser.add_argument("name", nargs="?", choices=_model_names(), metavar="NAME")
    parser.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from cutout.errors import ChecksumError
    from cutout.models.registry import all_specs, get_spec
    from cutout.models.weights import verify_file

    specs = [get_spec(args.name)] if args.name else list(all_specs())
    failed = False
    home = _home()
    for spec in specs:
        state = weights_state(spec, home)
        if not state.present:
            print(f"{spec.name}: not downloaded ({state.path}); `cutout models pull {spec.name}`")
            failed = failed or args.name is not None
            continue
        try:  # the whole file, whatever the digest memo says; the memo is refreshed
            sha256 = verify_file(spec, state.path, home=home, fresh=True)
        except ChecksumError as exc:
            print(f"cutout: {spec.name}: {exc.message}", file=sys.stderr)
            failed = True
            continue
        digest = (spec.weights.sha256 and "sha256") or (spec.weights.md5 and "md5")
        verdict = f"{digest} OK" if digest else "present, no published digest"
        print(f"{spec.name}: {verdict} ({state.path}; sha256 {sha256})")
    return 1 if failed else 0


# -- export-onnx ------------------------------------------------------------------------
def _register_export_onnx(commands: _Subparsers) -> None:
    from cutout.models.registry import all_specs

    names = [spec.name for spec in all_specs() if spec.family == "inspyrenet"]
    parser = commands.add_parser(
        "export-onnx",
        help="export an InSPyReNet model to ONNX (CPU inference with ONNX Runtime)",
        description="Export an InSPyReNet checkpoint to an ONNX graph at the model's "
        "static size. Without -o it is written to the cache, where the torch backend "
        "uses it for CPU inference.",
    )
    parser.add_argument("name", choices=names, metavar="NAME")
    parser.add_argument("--weights", type=Path, metavar="PATH", help="checkpoint (default: cache)")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT.onnx", help="output file")
    parser.set_defaults(func=_export_onnx)


def _export_onnx(args: argparse.Namespace) -> int:
    """Without ``-o`` the graph goes to the cache location keyed by the weights' sha256,
    where the torch backend picks it up and runs the CPU forward through ONNX Runtime (the
    same export it would otherwise run on first CPU use, under the same lock)."""
    from cutout.models.inspyrenet.export import cached_graph, export_onnx
    from cutout.models.registry import get_spec
    from cutout.models.weights import resolve_weights, verify_file, weights_sha256

    spec = get_spec(args.name)
    home = _home()
    resolved = resolve_weights(spec, args.weights, home=home)
    if resolved.verified:
        sha256 = verify_file(spec, resolved.path, home=home)
    else:
        sha256 = weights_sha256(resolved.path, home=home)
    if args.output is None:
        output = cached_graph(spec, resolved.path, sha256, home, force=True)
        where = "the cache; CPU inference now uses ONNX Runtime"
    else:
        output = export_onnx(spec, resolved.path, args.output)
        where = str(output)
    print(f"{spec.name}: exported {resolved.path} (sha256 {sha256}) to {output} ({where})")
    return 0
