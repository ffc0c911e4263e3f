#!/usr/bin/env bash
# The GPU check in one command (bench/gpu_check.py has what it measures):
#
#     bench/gpu_check.sh [--dry-run] [--out FILE]
#
# For a fresh machine with an NVIDIA GPU and no network whose python3 already has
# PyTorch with CUDA: cutout and its other dependencies come as wheels from the git-ignored
# bench/gpu_wheels/ (filled beforehand by bench/gpu_wheels.sh on a networked machine) and
# are installed with `pip --no-index` into a temporary venv that sees the system's torch.
# Everything, the install included, stops after GPU_CHECK_LIMIT seconds (default 480).
# --dry-run without wheels runs in the current environment (the CPU, under a minute).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wheels=${GPU_CHECK_WHEELS:-$here/gpu_wheels}
limit=${GPU_CHECK_LIMIT:-480}
python=${PYTHON:-python3}
dry_run=0
for arg in "$@"; do
    [[ $arg == --dry-run ]] && dry_run=1
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

if compgen -G "$wheels/cutout-*.whl" >/dev/null; then
    "$python" -m venv --system-site-packages "$work/venv"
    # --system-site-packages reaches the base interpreter's packages only: when $python
    # is itself a venv (torch installed there), its site-packages join by a .pth file
    site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$python" -c 'import site; print("\n".join(site.getsitepackages()))' >"$site/gpu-check-torch.pth"
    # torch is the machine's; the rest only from the wheels: cutout and the torch extra's
    # onnx, not 'cutout[torch]', so that pip never re-resolves torch's own dependencies
    timeout "$limit" "$work/venv/bin/pip" install -q --no-index --find-links "$wheels" \
        cutout onnx
    python=$work/venv/bin/python
    export GPU_CHECK_ENVIRONMENT="venv from $wheels ($work/venv, system torch)"
elif ((dry_run)); then
    echo "gpu_check: no cutout wheel in $wheels: dry run in the current environment ($python)" >&2
    export GPU_CHECK_ENVIRONMENT="current ($python), no wheels"
else
    echo "gpu_check: no cutout wheel in $wheels: run bench/gpu_wheels.sh on a networked machine first" >&2
    exit 2
fi

"$python" -c 'import torch' || {
    echo "gpu_check: $python has no torch (the check uses the machine's CUDA build)" >&2
    exit 2
}
left=$((limit - SECONDS))
((left > 0)) || { echo "gpu_check: the install used the whole ${limit} s" >&2; exit 124; }
# the driver's bench imports (load.py, gpu_checkpoint.py) sit beside it
cd "$here"
timeout --kill-after=10 "$left" "$python" gpu_check.py "$@"
