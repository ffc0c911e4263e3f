"""The array types every layer shares: one alias per dtype, defined once.

Imaging, backends and the engine pass numpy arrays between them; naming the two dtypes
they use here keeps every signature in agreement (and mypy checking it).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["ByteArray", "FloatArray"]

FloatArray = npt.NDArray[np.float32]
ByteArray = npt.NDArray[np.uint8]
