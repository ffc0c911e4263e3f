# syntax=docker/dockerfile:1.7
# cutout images for Cloud Run. Two targets:
#
#   docker build --target cpu -t REGISTRY/cutout-cpu:TAG .   python:3.11-slim, CPU torch
#   docker build --target gpu -t REGISTRY/cutout-gpu:TAG .   CUDA 12.x runtime + cuDNN, CUDA torch,
#                                                            onnxruntime-gpu (and no CPU onnxruntime)
#
# Weights are baked into their own layer: downloaded and checksum-verified by
# `cutout models pull` (default), or copied from ./weights/ in the build context with
# --build-arg WEIGHTS_SOURCE=context (for builders without internet access). Each runtime
# stage then checks them once more, as root, and remembers their digests in
# /opt/cutout/digests, so that a start never hashes a checkpoint again (docs/inspyrenet.md).
# The CPU image also bakes each model's ONNX graph (`cutout models export-onnx`, about a
# minute for fast and three for base, 400 MB each, ~6 GB of memory for base): the CPU
# forward runs it with ONNX Runtime from the first request, and the process runs as a user
# who could not write the export at start-up anyway. --build-arg MODELS=inspyrenet-fast
# builds a smaller image.
# The install steps are the ones .ci/run exercises: torch pinned first, then the package
# with its extras, so CI tests what the image runs. Runs as a non-root user and serves
# `cutout serve` on $PORT (Cloud Run sets it; 8080 here).
#
# GPU: Cloud Run's L4 instances come with the NVIDIA driver installed. Any CUDA 12.x
# runtime works on a 12.x driver (CUDA minor-version compatibility); torch's CUDA wheels
# carry their own CUDA libraries, so TORCH_CUDA must stay a 12.x build (cu12X), never 13.

ARG WEIGHTS_SOURCE=download
ARG PYTHON_IMAGE=python:3.11-slim
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04
ARG TORCH_VERSION=2.13.0
ARG MODELS="inspyrenet-base inspyrenet-fast"

# ---- weights: `cutout models pull` (checksums verified) ---------------------------------
FROM ${PYTHON_IMAGE} AS weights-download
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 CUTOUT_HOME=/opt/cutout
COPY pyproject.toml README* /src/
COPY src /src/src
# base dependencies only: pulling weights needs no torch
RUN python -m pip install /src
ARG MODELS
RUN for model in ${MODELS}; do cutout models pull "${model}"; done

# ---- weights: copied from the build context (./weights/ckpt_base.pth, ...) ---------------
FROM scratch AS weights-context
COPY weights/ /opt/cutout/weights/

FROM weights-${WEIGHTS_SOURCE} AS weights

# ---- CPU ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS cpu-install
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
ARG TORCH_VERSION
RUN python -m pip install --upgrade pip \
 && python -m pip install torch==${TORCH_VERSION} --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README* /src/
COPY src /src/src
RUN python -m pip install '/src[torch]' && rm -rf /src

FROM cpu-install AS cpu
COPY --from=weights /opt/cutout/weights /opt/cutout/weights
ENV CUTOUT_HOME=/opt/cutout CUTOUT_MODEL=inspyrenet-fast CUTOUT_DEVICE=cpu PORT=8080
# the graphs the CPU forward runs, and the weights' digests (verified against the published
# md5 on the way), written as root into the image
ARG MODELS
RUN for model in ${MODELS}; do cutout models export-onnx "${model}"; done
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin cutout
USER 10001
EXPOSE 8080
CMD ["cutout", "serve"]

# ---- GPU ---------------------------------------------------------------------------------
FROM ${CUDA_IMAGE} AS gpu-install
ENV DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3.11 -m venv /opt/venv
ARG TORCH_VERSION
ARG TORCH_CUDA=cu128
RUN python -m pip install --upgrade pip \
 && python -m pip install torch==${TORCH_VERSION} \
        --index-url https://download.pytorch.org/whl/${TORCH_CUDA}
COPY pyproject.toml README* /src/
COPY src /src/src
# onnxruntime (a base dependency) and onnxruntime-gpu (the gpu extra) install the same
# onnxruntime/ package folder: with both, CUDA is silently unavailable, and uninstalling
# one breaks the other's files. So both go, the GPU build comes back alone (its own
# dependencies are already there), and the build fails unless exactly that one is left.
RUN python -m pip install '/src[torch,gpu]' && rm -rf /src \
 && ort_gpu_version="$(python -c 'from importlib.metadata import version; print(version("onnxruntime-gpu"))')" \
 && python -m pip uninstall -y onnxruntime onnxruntime-gpu \
 && python -m pip install --no-deps "onnxruntime-gpu==${ort_gpu_version}" \
 && python -c 'from cutout.devices import onnxruntime_distributions as found; assert found() == ("onnxruntime-gpu",), found()'

FROM gpu-install AS gpu
COPY --from=weights /opt/cutout/weights /opt/cutout/weights
ENV CUTOUT_HOME=/opt/cutout CUTOUT_MODEL=inspyrenet-base CUTOUT_DEVICE=cuda PORT=8080
# the weights' digests, remembered while verifying (a GPU runs torch: no graph to bake)
ARG MODELS
RUN for model in ${MODELS}; do cutout models verify "${model}"; done
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin cutout
USER 10001
EXPOSE 8080
CMD ["cutout", "serve"]
