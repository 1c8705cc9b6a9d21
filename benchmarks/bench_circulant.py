"""asv benchmarks: BlockCirculant (block-circulant operators, FFT products and solves).

``asv run --python=same --quick --bench bench_circulant``. The side-by-side table
(one process, interleaved repeats, ratios against the dense matrix and a
hand-written numpy FFT) is ``python benchmarks/side_circulant.py``.

* ``CirculantMatvec``: A @ x for k blocks of m×m, kronop against the dense matrix
  (where it fits) and a hand-written numpy FFT product.
* ``CirculantSolve``: the solve with a warm operator (frequency blocks factorized)
  and a cold one (factorization included), against dense LU (factorization +
  solve) where the dense matrix fits.
* ``PeriodicConvolution``: ``BlockCirculant.from_kernel`` on a 2-D image (product
  and solve), against ``scipy.ndimage.convolve(mode="wrap")`` for a 5×5 kernel.

``setup`` stays light for ``peakmem_*``; parameter sets whose dense matrix would
not fit or would take much more than a second per call are skipped with
``NotImplementedError``.
"""

import numpy as np
import scipy.linalg as sla
import scipy.ndimage as ndi

from kronop.circulant import BlockCirculant

#: largest dense matrix (entries) a benchmark forms
DENSE_LIMIT = 4096 * 4096


def make_blocks(k, m, dtype="float64", seed=0):
    """k random m×m blocks with a dominant C₀ (well-conditioned frequency blocks)."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((k, m, m))
    if np.dtype(dtype).kind == "c":
        C = C + 1j * rng.standard_normal((k, m, m))
    C /= np.sqrt(k * m)
    C[0] += 2 * np.eye(m)
    return C.astype(dtype)


def numpy_fft_matvec(C, x):
    """The product written by hand with numpy.fft: fft, batched matmul, ifft."""
    k, m, n = C.shape
    K = x.shape[1]
    if np.isrealobj(C) and np.isrealobj(x):
        S = np.fft.rfft(C, axis=0)
        X = np.fft.rfft(x.reshape(k, n, K), axis=0)
        return np.fft.irfft(S @ X, n=k, axis=0).reshape(k * m, K)
    S = np.fft.fft(C, axis=0)
    X = np.fft.fft(x.reshape(k, n, K), axis=0)
    return np.fft.ifft(S @ X, axis=0).reshape(k * m, K)


def numpy_fft_solve(C, b):
    """The solve written by hand: fft, batched ``np.linalg.solve``, ifft."""
    k, m, _ = C.shape
    K = b.shape[1]
    S = np.fft.rfft(C, axis=0)
    X = np.fft.rfft(b.reshape(k, m, K), axis=0)
    return np.fft.irfft(np.linalg.solve(S, X), n=k, axis=0).reshape(k * m, K)


class CirculantMatvec:
    """A @ x for k blocks of m×m, K right-hand sides."""

    params = (
        (64, 256, 4096),
        (4, 16),
        (1, 16),
        ("float32", "float64", "complex128"),
        ("kronop", "dense", "numpy-fft"),
    )
    param_names = ("k", "m", "K", "dtype", "impl")

    def setup(self, k, m, K, dtype, impl):
        N = k * m
        if impl == "dense" and N * N > DENSE_LIMIT:
            raise NotImplementedError("the dense matrix does not fit")
        C = make_blocks(k, m, dtype)
        rng = np.random.default_rng(1)
        x = rng.standard_normal((N, K)).astype(dtype)
        self.x = x[:, 0] if K == 1 else x
        op = BlockCirculant(C)
        if impl == "kronop":
            op @ self.x  # the frequency blocks, computed once
            self.apply = op.__matmul__
        elif impl == "dense":
            D = op.toarray()
            self.apply = D.__matmul__
        else:
            xx = x

            def apply(_):
                return numpy_fft_matvec(C, xx)

            self.apply = apply

    def time_matvec(self, k, m, K, dtype, impl):
        self.apply(self.x)

    def peakmem_matvec(self, k, m, K, dtype, impl):
        self.apply(self.x)


class CirculantSolve:
    """A x = b for k blocks of m×m (float64), one right-hand side."""

    params = ((64, 256, 4096), (4, 16), ("warm", "cold", "dense-lu", "numpy-fft"))
    param_names = ("k", "m", "impl")
    timeout = 300  # dense LU of the 4096×4096 matrix takes seconds per call

    def setup(self, k, m, impl):
        N = k * m
        if impl == "dense-lu" and N * N > DENSE_LIMIT:
            raise NotImplementedError("the dense matrix does not fit")
        self.C = make_blocks(k, m)
        self.b = np.random.default_rng(1).standard_normal(N)
        self.op = BlockCirculant(self.C)
        if impl == "warm":
            self.op.solve(self.b)
        if impl == "dense-lu":
            self.D = self.op.toarray()

    def time_solve(self, k, m, impl):
        if impl == "warm":
            self.op.solve(self.b)
        elif impl == "cold":
            BlockCirculant(self.C).solve(self.b)
        elif impl == "dense-lu":
            sla.lu_solve(sla.lu_factor(self.D), self.b)
        else:
            numpy_fft_solve(self.C, self.b[:, None])

    def peakmem_solve(self, k, m, impl):
        self.time_solve(k, m, impl)


class PeriodicConvolution:
    """A 2-D periodic convolution (n×n image): product and solve."""

    params = ((256, 1024), ("kronop", "ndimage-5x5", "kronop-solve"))
    param_names = ("n", "impl")

    def setup(self, n, impl):
        rng = np.random.default_rng(0)
        w = rng.standard_normal((5, 5))
        w[2, 2] += 30  # diagonally dominant: invertible
        c = np.zeros((n, n))
        c[:5, :5] = w
        self.c = np.roll(c, (-2, -2), axis=(0, 1))
        self.w = w
        self.image = rng.standard_normal((n, n))
        self.x = self.image.ravel()
        self.op = BlockCirculant.from_kernel(self.c)
        self.op @ self.x
        if impl == "kronop-solve":
            self.op.solve(self.x)

    def time_apply(self, n, impl):
        if impl == "kronop":
            self.op @ self.x
        elif impl == "ndimage-5x5":
            ndi.convolve(self.image, self.w, mode="wrap")
        else:
            self.op.solve(self.x)
