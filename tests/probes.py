"""Device probes for tests: the hardware a test wants, whatever the machine has."""

from __future__ import annotations

from cutout.devices import DeviceProbe

__all__ = ["probe", "unprobed"]


def probe(cuda: bool = False, mps: bool = False) -> DeviceProbe:
    """A machine with (or without) CUDA and Apple MPS."""
    return DeviceProbe(cuda_available=lambda: cuda, mps_available=lambda: mps)


def unprobed() -> DeviceProbe:
    """A probe that fails the test when asked: the code under test must not probe."""

    def refuse() -> bool:
        raise AssertionError("the hardware was probed")

    return DeviceProbe(cuda_available=refuse, mps_available=refuse)
