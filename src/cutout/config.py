"""One typed settings object, read once at start-up from ``CUTOUT_*`` (and ``PORT``).

Nothing else in cutout reads the environment for configuration; commands and the server
build a :class:`Settings` and pass values down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cutout.devices import check_device
from cutout.errors import ConfigError, DeviceError
from cutout.models.inspyrenet.policy import Quality

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Every setting, its type and default. Env names are ``CUTOUT_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="CUTOUT_", extra="ignore", frozen=True)

    # model: None when none is named, then --quality's choice or the default (u2netp); the
    # engine decides (cutout.engine.model_for_settings): loading settings probes no hardware
    model: str | None = None
    # --quality / CUTOUT_QUALITY: pick the InSPyReNet record for the hardware when no model
    # is named (auto: base at 1024 on a GPU, fast at 384 on the CPU; best; fast)
    quality: Quality | None = None
    weights: Path | None = None
    # auto | cpu | cuda | cuda:N | mps (cutout.devices.DEVICE_NAMES)
    device: str = "auto"
    # --require-gpu / CUTOUT_REQUIRE_GPU=1: serve from a GPU or not at all (a GPU instance
    # is billed as one; on the CPU it serves 10-20x slower): see Engine.require_gpu
    require_gpu: bool = False
    threads: int | None = Field(default=None, ge=1)
    # the CPU forward of InSPyReNet: auto (the exported ONNX graph, exported into home on
    # first use for static-size models), onnxruntime (exported for dynamic ones too), torch
    cpu_runtime: Literal["auto", "onnxruntime", "torch"] = "auto"
    resize: Literal["static", "dynamic"] | None = None
    # the cache: weights (home/weights) and exported ONNX graphs (home/onnx)
    home: Path = Field(default_factory=lambda: Path(platformdirs.user_cache_dir("cutout")))

    # server
    host: str = "0.0.0.0"
    port: int = Field(
        default=8000, ge=1, le=65535, validation_alias=AliasChoices("PORT", "CUTOUT_PORT")
    )
    max_batch: int = Field(default=8, ge=1, le=256)
    batch_wait_ms: float = Field(default=5.0, ge=0, le=1000)
    queue_size: int = Field(default=64, ge=1)
    request_timeout_s: float = Field(default=60.0, gt=0)
    shutdown_grace_s: float = Field(default=8.0, ge=0)
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    max_megapixels: float = Field(default=50.0, gt=0)
    workers: int | None = Field(default=None, ge=1)

    # remote images (image_url / bg_image_url): off unless hosts are allowed
    allow_urls: bool = False
    url_allow_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    url_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    url_timeout_s: float = Field(default=10.0, gt=0)

    # access
    api_keys: Annotated[tuple[str, ...], NoDecode] = ()
    api_keys_file: Path | None = None
    rate_limit_mp_per_minute: float | None = Field(default=None, gt=0)

    log_format: Literal["json", "text"] = "json"
    log_level: str = "info"
    # Cloud Logging trace links need the project id (projects/P/traces/ID).
    gcp_project: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CUTOUT_GCP_PROJECT", "GOOGLE_CLOUD_PROJECT"),
    )
    # Cloud Run sets K_REVISION; /model-info reports it.
    k_revision: str | None = Field(default=None, validation_alias=AliasChoices("K_REVISION"))

    # Cloud Run Jobs set these in every task (reserved names: users cannot set them);
    # `cutout batch` takes its shard from them when no --shard is given
    cloud_run_task_index: int | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("CLOUD_RUN_TASK_INDEX")
    )
    cloud_run_task_count: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("CLOUD_RUN_TASK_COUNT")
    )
    cloud_run_task_attempt: int | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("CLOUD_RUN_TASK_ATTEMPT")
    )
    cloud_run_execution: str | None = Field(
        default=None, validation_alias=AliasChoices("CLOUD_RUN_EXECUTION")
    )

    @field_validator("api_keys", "url_allow_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        # env values are "a,b,c"; Python callers pass a list or tuple
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("device")
    @classmethod
    def _device_name(cls, value: str) -> str:
        try:
            return check_device(value)
        except DeviceError as exc:
            raise ValueError(exc.message) from exc

    @field_validator("require_gpu")
    @classmethod
    def _gpu_device(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("device") == "cpu":
            raise ValueError("a GPU is required but the device is cpu (--device, CUTOUT_DEVICE)")
        return value

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit (CLI) overrides that are not None."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{_env_name(error['loc'])}: {error['msg']}" for error in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from exc


def _env_name(location: tuple[int | str, ...]) -> str:
    """The environment variable(s) a field is read from, as a user would set them.

    An error's location is the field's name, or the alias it was read under."""
    name = str(location[0]) if location else "?"
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = [str(c) for c in alias.choices] if isinstance(alias, AliasChoices) else []
        if name == field_name or name in choices:
            return "/".join(choices) if choices else f"CUTOUT_{field_name.upper()}"
    return f"CUTOUT_{name.upper()}"
