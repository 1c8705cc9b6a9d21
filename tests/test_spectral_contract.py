"""K + σI, K + σD and f(K) operators pass the shared operator contract."""

from functools import reduce

import numpy as np
import scipy.linalg as sla

from kronop import IdentityOperator, KronOperator

from .contract.operator import OperatorContract
from .factories import hi, random_array


def _hpd(rng, n, dtype):
    a = random_array(rng, (n, n), dtype)
    return (a @ a.conj().T / n + np.eye(n)).astype(dtype)


class TestShiftedContract(OperatorContract):
    cases = ("shift-hpd", "shift-general", "kron-diagonal")

    def build(self, case, dtype, rng):
        if case == "shift-general":
            mats = [
                random_array(rng, (n, n), dtype) + 3 * np.eye(n, dtype=dtype)
                for n in (3, 2, 2)
            ]
        else:
            mats = [_hpd(rng, n, dtype) for n in (3, 2, 2)]
        K = KronOperator(*mats)
        dense = reduce(np.kron, [hi(m) for m in mats])
        if case == "kron-diagonal":
            diags = [
                rng.random(n).astype(np.dtype(dtype).char.lower()) + 0.5
                for n in (3, 2, 2)
            ]
            op = K + KronOperator(*(np.diag(d) for d in diags))
            return op, dense + np.diag(reduce(np.kron, [hi(d) for d in diags]))
        op = K + 0.75 * IdentityOperator(K.shape, dtype=dtype)
        return op, dense + 0.75 * np.eye(dense.shape[0])

    def inner_size(self, op):
        return 12


class TestSpectralContract(OperatorContract):
    cases = ("expm-hpd", "sqrt-hpd", "expm-general")

    def build(self, case, dtype, rng):
        if case == "expm-general":
            mats = [random_array(rng, (n, n), dtype) * 0.3 for n in (3, 2)]
        else:
            mats = [_hpd(rng, n, dtype) * 0.3 for n in (3, 2)]
        K = KronOperator(*mats)
        dense = reduce(np.kron, [hi(m) for m in mats])
        if case.startswith("expm"):
            return K.expm(), sla.expm(dense)
        root = sla.sqrtm(dense)
        return K.sqrt(), root.real if np.dtype(dtype).kind == "f" else root

    def inner_size(self, op):
        # eigenvector round trips: a few ulps times the eigenvector condition
        return 400
