import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


@pytest.fixture(params=["numpy", "fused"])
def backend(request):
    """Run a test on the numpy/BLAS kernels and on the fused kernels (if numba)."""
    import kronop
    from kronop._engine import jit

    if request.param == "fused" and not jit.available():
        pytest.skip("numba is not installed (the fast extra)")
    previous = kronop.set_fused(request.param == "fused")
    yield request.param
    kronop.set_fused(previous)
