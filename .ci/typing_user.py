"""A small user script: what pyright must infer for kronop's results (CI checks it)."""

import numpy as np

from kronop import BlockDiag, KronOperator, KronSum, laplacian

K = KronOperator(np.eye(3), np.eye(2))
x: np.ndarray = K @ np.ones(6)
y: np.ndarray = K.dot(np.ones(6))
X: np.ndarray = K.matmat(np.ones((6, 2)))
r: np.ndarray = K.rmatvec(np.ones(6))
s: np.ndarray = K.solve(np.ones(6))
L = laplacian((4, 5))
u: np.ndarray = L.solve(np.ones(20), method="eig")
v: np.ndarray = L.eigh().solve(np.ones(20), shift=1.0)
w: np.ndarray = BlockDiag([np.eye(2), np.eye(3)]).solve(np.ones(5))
S: KronSum = KronSum(np.eye(2), np.eye(3))
print(x, y, X, r, s, u, v, w, S)
P = K.pinv()
p: np.ndarray = P @ np.ones(6)
d: np.ndarray = P.toarray()
t: np.ndarray = (2 * K) @ np.ones(6)
q: np.ndarray = (K * 2.0).toarray()
print(p, d, t, q)
