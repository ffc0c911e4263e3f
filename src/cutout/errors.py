"""The one exception tree of cutout.

Every error cutout raises on purpose derives from :class:`CutoutError`. Foreign
exceptions (Pillow, ONNX Runtime, torch, Google clients, OS errors) are translated once,
at the boundary where they happen, with ``raise ... from exc``.

::

    CutoutError
    ├── InputError                    the caller's data or options are wrong (HTTP 4xx)
    │   ├── DecodeError               bytes are not a readable image      failed_to_read_image
    │   │   └── UnsupportedFormatError  a known non-image type (PDF, SVG) invalid_file_type
    │   ├── ImageTooLargeError        too many pixels                     resolution_too_high
    │   ├── FileTooLargeError         too many bytes                      file_too_large
    │   ├── InvalidOptionError        an option value is wrong            invalid_<option>
    │   ├── NoForegroundError         nothing salient was found           unknown_foreground
    │   └── OutputPathError           an output path is unsafe or exists  invalid_output
    ├── ModelError                    the model cannot be served (HTTP 5xx / CLI exit 1)
    │   ├── UnknownModelError         a name not in the registry          unknown_model
    │   ├── WeightsError              weights missing or wrong
    │   │   ├── WeightsMissingError   not in the cache; says how to get them
    │   │   ├── ChecksumError         the file's digest does not match
    │   │   └── DownloadError         the download failed
    │   ├── CheckpointError           a checkpoint's keys or shapes do not match
    │   └── BackendUnavailableError   the backend's package is not installed
    ├── DeviceError                   a device failed (GPU init, out of memory)
    │   └── GpuUnavailableError       --require-gpu, and the model does not run on a GPU
    ├── ConfigError                   a settings or deploy config value is wrong
    ├── DeployError                   Cloud Run tooling (see cutout.deploy)
    └── StorageError                  a batch source or destination failed (see cutout.batch)

The ``code`` of each class is a stable, machine-readable string. The HTTP status of each
class lives in one table in ``cutout.server``; the library never thinks about HTTP.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "CheckpointError",
    "ChecksumError",
    "ConfigError",
    "CutoutError",
    "DecodeError",
    "DeployError",
    "DeviceError",
    "DownloadError",
    "FileTooLargeError",
    "GpuUnavailableError",
    "ImageTooLargeError",
    "InputError",
    "InvalidOptionError",
    "ModelError",
    "NoForegroundError",
    "OutputPathError",
    "StorageError",
    "UnknownModelError",
    "UnsupportedFormatError",
    "WeightsError",
    "WeightsMissingError",
]


class CutoutError(Exception):
    """Base of every error cutout raises on purpose."""

    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InputError(CutoutError):
    """The caller's image or options are wrong; retrying the same request will not help."""

    code = "invalid_input"


class DecodeError(InputError):
    """The bytes could not be decoded as an image."""

    code = "failed_to_read_image"


class UnsupportedFormatError(DecodeError):
    """The bytes are a known format that is not a raster image cutout reads (PDF, SVG...)."""

    code = "invalid_file_type"


class ImageTooLargeError(InputError):
    """The image has more pixels than the configured limit (checked from the header)."""

    code = "resolution_too_high"


class FileTooLargeError(InputError):
    """The upload has more bytes than the configured limit."""

    code = "file_too_large"


class InvalidOptionError(InputError):
    """An option has a value cutout cannot use. ``code`` names the option."""

    code = "invalid_option"


class NoForegroundError(InputError):
    """The model found no foreground in the image."""

    code = "unknown_foreground"


class OutputPathError(InputError):
    """An output path would overwrite an input or escape the output folder."""

    code = "invalid_output"


class ModelError(CutoutError):
    """The model cannot be loaded or run."""

    code = "model_error"


class UnknownModelError(ModelError):
    code = "unknown_model"


class WeightsError(ModelError):
    code = "weights_error"


class WeightsMissingError(WeightsError):
    """The weights are not on disk. The message names the model, the URL and the manual step."""

    code = "weights_missing"


class ChecksumError(WeightsError):
    code = "checksum_mismatch"


class DownloadError(WeightsError):
    code = "download_failed"


class CheckpointError(ModelError):
    """A checkpoint does not match the network: lists missing and unexpected keys."""

    code = "checkpoint_mismatch"


class BackendUnavailableError(ModelError):
    """The backend's optional dependency (e.g. torch) is not installed."""

    code = "backend_unavailable"


class DeviceError(CutoutError):
    """A device failed to initialise or ran out of memory."""

    code = "device_error"


class GpuUnavailableError(DeviceError):
    """A GPU is required (``--require-gpu``) but the model runs on the CPU: no GPU, a GPU
    that failed to initialise, a backend without a GPU build, or a fallback at run time."""

    code = "gpu_unavailable"


class ConfigError(CutoutError):
    """A configuration value is invalid."""

    code = "invalid_config"


class DeployError(CutoutError):
    """Base of the Cloud Run deployment tooling's errors."""

    code = "deploy_error"


class StorageError(CutoutError):
    """Base of the batch storage layer's errors: a folder or Cloud Storage bucket could not
    be listed, read or written (see :mod:`cutout.batch.errors`)."""

    code = "storage_error"
