"""Prometheus metrics, in a registry of the app's own (two apps never share counters)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "cutout_requests", "HTTP requests answered", ("route", "method", "status"), registry=r
        )
        self.latency = Histogram(
            "cutout_request_seconds",
            "HTTP request latency",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "cutout_queue_depth", "jobs waiting for or in the forward pass", registry=r
        )
        self.in_flight = Gauge(
            "cutout_requests_in_flight", "image requests admitted and not yet answered", registry=r
        )
        self.batch_size = Histogram(
            "cutout_batch_size", "images per forward pass", buckets=_BATCH_BUCKETS, registry=r
        )
        self.stage_seconds = Histogram(
            "cutout_stage_seconds",
            "time per pipeline stage per image",
            ("stage",),
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.rejected = Counter(
            "cutout_rejected", "requests refused before running", ("reason",), registry=r
        )
        self.megapixels = Counter("cutout_megapixels", "input megapixels processed", registry=r)
        self.model_load_seconds = Gauge(
            "cutout_model_load_seconds", "seconds to load the model", registry=r
        )
        self.model_warmup_seconds = Gauge(
            "cutout_model_warmup_seconds", "seconds of the warm-up forward", registry=r
        )
        self.model_ready = Gauge("cutout_model_ready", "1 when the model is warm", registry=r)
        self.device = Gauge(
            "cutout_device_info",
            "the device in use (value 1)",
            ("model", "kind", "name", "precision"),
            registry=r,
        )
        self.fallbacks = Gauge(
            "cutout_device_fallbacks", "device fallbacks that happened", registry=r
        )
        self.gpu_unavailable = Gauge(
            "cutout_gpu_unavailable",
            "1 when a GPU is required (--require-gpu) and the model cannot run on one",
            registry=r,
        )

    def observe_stages(self, timings: dict[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stage_seconds.labels(stage=stage).observe(seconds)

    def render(self, refresh: Callable[[], None] | None = None) -> bytes:
        if refresh is not None:
            refresh()
        return generate_latest(self.registry)
