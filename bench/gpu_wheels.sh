#!/usr/bin/env bash
# Fill bench/gpu_wheels/ (git-ignored) with cutout and every runtime dependency but torch,
# as wheels, for bench/gpu_check.sh on a GPU machine without network:
#
#     bench/gpu_wheels.sh [--python-version 3.11] [--platform manylinux2014_x86_64]
#
# Run it on a networked machine from the repository; the defaults are this python's
# version and Linux x86_64. torch is left out on purpose: the GPU machine's own CUDA build
# is used. Copy the folder along with the repository.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
out=${GPU_WHEELS_DIR:-$here/gpu_wheels}
python=${PYTHON:-python3}
version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
platform=manylinux2014_x86_64
while (($#)); do
    case $1 in
        --python-version) version=$2; shift 2 ;;
        --platform) platform=$2; shift 2 ;;
        *) echo "usage: $0 [--python-version X.Y] [--platform TAG]" >&2; exit 2 ;;
    esac
done

mkdir -p "$out"
rm -f "$out"/cutout-*.whl
"$python" -m pip wheel -q --no-deps --wheel-dir "$out" "$repo"
# the runtime dependencies and the torch extra's onnx, binary wheels for the target
requirements=$("$python" - "$repo/pyproject.toml" <<'PY'
import sys
import tomllib

with open(sys.argv[1], "rb") as file:
    project = tomllib.load(file)["project"]
wanted = project["dependencies"] + project["optional-dependencies"]["torch"]
print("\n".join(line for line in wanted if not line.startswith("torch")))
PY
)
mapfile -t packages <<<"$requirements"
# manylinux2014 wheels install on newer manylinux too; pip also accepts the newer tags
"$python" -m pip download -q --dest "$out" --only-binary=:all: \
    --python-version "$version" --implementation cp \
    --platform "$platform" --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_34_x86_64 \
    "${packages[@]}"
ls "$out" | wc -l | xargs echo "gpu_wheels: wheels in $out:"
du -sh "$out"
