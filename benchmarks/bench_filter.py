"""asv benchmarks: the separable filter ``filter_operator`` against ``scipy.ndimage``.

``asv run --python=same --quick --bench bench_filter``. The one-process side-by-side
ratio table is ``benchmarks/side_filter.py``.

The operator is a Kronecker product of banded CSR factors (one per axis); the
peer is ``scipy.ndimage.correlate1d`` applied along each axis in turn, which
computes the same image. ``setup`` builds the operator and runs one warm product
(plan and work buffers), so ``time_apply`` is the steady-state product and
``time_construct`` the building of the factors alone.
"""

import numpy as np
import scipy.ndimage as ndi

from kronop.gallery import filter_operator


def _weights(taps: int, dtype) -> np.ndarray:
    w = np.random.default_rng(1).random(taps)
    return (w / w.sum()).astype(dtype)


class FilterApply:
    """One n×n image, a 5- or 9-tap filter along both axes: kronop and ndimage."""

    params = ((1024,), (5, 9), ("reflect", "constant", "wrap"), ("float32", "float64"))
    param_names = ("n", "taps", "mode", "dtype")

    def setup(self, n, taps, mode, dtype):
        self.w = _weights(taps, dtype)
        self.img = np.random.default_rng(0).random((n, n)).astype(dtype)
        self.x = self.img.ravel()
        self.op = filter_operator((n, n), self.w, mode=mode)
        self.op @ self.x  # warm: plan and work buffers

    def time_apply(self, n, taps, mode, dtype):
        self.op @ self.x

    def time_ndimage(self, n, taps, mode, dtype):
        ndi.correlate1d(
            ndi.correlate1d(self.img, self.w, axis=0, mode=mode),
            self.w,
            axis=1,
            mode=mode,
        )

    def peakmem_apply(self, n, taps, mode, dtype):
        self.op @ self.x


class FilterConstruct:
    """Building the banded factors from the weights (index arithmetic, O(n·taps))."""

    params = ((1024, 8192), (5, 9), ("reflect", "mirror"))
    param_names = ("n", "taps", "mode")

    def setup(self, n, taps, mode):
        self.w = _weights(taps, "float64")

    def time_construct(self, n, taps, mode):
        filter_operator((n, n), self.w, mode=mode)


class FilterApply3D:
    """A 128³ volume with a different filter per axis (7, 4 and 3 taps)."""

    params = (("kronop", "ndimage"),)
    param_names = ("impl",)

    def setup(self, impl):
        rng = np.random.default_rng(0)
        self.ws = [_weights(t, "float64") for t in (7, 4, 3)]
        self.img = rng.random((128, 128, 128))
        self.op = filter_operator(self.img.shape, self.ws, mode="mirror")
        self.op @ self.img.ravel()

    def time_apply(self, impl):
        if impl == "kronop":
            self.op @ self.img.ravel()
        else:
            out = self.img
            for j, w in enumerate(self.ws):
                out = ndi.correlate1d(out, w, axis=j, mode="mirror")
