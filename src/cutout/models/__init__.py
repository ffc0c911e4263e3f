"""Model records (registry), weights cache and model families."""

from __future__ import annotations

from cutout.models.registry import all_specs, get_spec, model_names
from cutout.models.spec import ModelSpec, WeightsSource

__all__ = ["ModelSpec", "WeightsSource", "all_specs", "get_spec", "model_names"]
