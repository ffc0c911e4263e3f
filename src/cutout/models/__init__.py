"""Model records (registry), weights cache and model families."""

from __future__ import annotations

from cutout.models.registry import ModelSpec, WeightsSource, all_specs, get_spec, model_names

__all__ = ["ModelSpec", "WeightsSource", "all_specs", "get_spec", "model_names"]
