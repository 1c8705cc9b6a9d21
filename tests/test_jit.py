"""The compiled-kernel layer: the switch, the pool, and life without numba."""

import subprocess
import sys
import threading

import numpy as np
import pytest

import kronop
from kronop import _engine
from kronop._engine import jit, numpy_kernels


def test_set_fused_returns_previous_and_routes_the_engine():
    x = np.ones(3)
    previous = kronop.set_fused(False)
    try:
        assert not kronop.fused_enabled()
        assert _engine.kernels_for(x) is numpy_kernels
        assert kronop.set_fused(True) is False
        assert kronop.fused_enabled() == jit.available()
        if jit.available():
            assert _engine.kernels_for(x).__name__.endswith("fused_kernels")
    finally:
        kronop.set_fused(previous)


def test_fused_backend_forwards_every_numpy_door():
    if not jit.available():
        pytest.skip("numba is not installed")
    from kronop._engine import fused_kernels

    for name in numpy_kernels.__all__:
        assert hasattr(fused_kernels, name)
    assert fused_kernels.as_block is numpy_kernels.as_block


def test_run_tasks_covers_every_task_once():
    seen = []
    lock = threading.Lock()

    def work(t, n):
        with lock:
            seen.append((t, n))

    jit.run_tasks(work, 8, threads=4)
    n = seen[0][1]
    assert sorted(t for t, _ in seen) == list(range(n))
    assert all(m == n for _, m in seen)
    seen.clear()
    jit.run_tasks(work, 1)
    assert seen == [(0, 1)]


def test_run_tasks_nested_calls_run_inline():
    inner = []

    def outer(t, n):
        jit.run_tasks(lambda s, m: inner.append(m), 4, threads=4)

    jit.run_tasks(outer, 2, threads=2)
    # the calls made from inside a task ran on their own thread, one task each
    assert inner
    assert all(m == 1 for m in inner)


def test_run_tasks_propagates_errors():
    def work(t, n):
        if t == n - 1:
            raise ValueError("task failed")

    with pytest.raises(ValueError, match="task failed"):
        jit.run_tasks(work, 2, threads=2)


def test_num_threads_honours_the_cap(monkeypatch):
    monkeypatch.setenv("KRONOP_NUM_THREADS", "1")
    assert jit.num_threads() == 1
    monkeypatch.setenv("KRONOP_NUM_THREADS", "not a number")
    assert jit.num_threads() >= 1


def _run(code: str, env_extra=None) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k != "KRONOP_FUSED"}
    env.update(env_extra or {})
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    return out.stdout.strip()


def test_kronop_works_without_numba():
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np, kronop\n"
        "L = kronop.laplacian((6, 5, 4))\n"
        "x = np.arange(L.shape[1], dtype=float)\n"
        "y = L @ x\n"
        "assert np.allclose(y, L.toarray() @ x)\n"
        "print(kronop.fused_enabled(), kronop.set_fused(True), kronop.fused_enabled())\n"
    )
    assert _run(code) == "False True False"


def test_environment_switch_turns_fused_kernels_off():
    code = "import kronop; print(kronop.fused_enabled())"
    assert _run(code, {"KRONOP_FUSED": "0"}) == "False"


def test_set_fused_refuses_non_booleans():
    with pytest.raises(TypeError, match="True or False"):
        kronop.set_fused("off")
    assert kronop.set_fused(np.bool_(kronop.fused_enabled())) in (True, False)


def test_run_tasks_waits_for_every_task_before_raising():
    import time

    done = []

    def work(t, n):
        if t == 0:
            raise ValueError("first task failed")
        time.sleep(0.05)
        done.append(t)

    with pytest.raises(ValueError, match="first task failed"):
        jit.run_tasks(work, 2, threads=2)
    assert done == [1]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_gets_a_fresh_pool():
    code = (
        "import os, signal\n"
        "from kronop._engine import jit\n"
        "jit.run_tasks(lambda t, n: None, 2, threads=2)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    signal.alarm(20)\n"
        "    seen = []\n"
        "    jit.run_tasks(lambda t, n: seen.append(t), 2, threads=2)\n"
        "    os._exit(0 if sorted(seen) == [0, 1] else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status))\n"
    )
    assert _run(code) == "0"


def test_kernels_compile_without_a_writable_cache(tmp_path):
    if not jit.available():
        pytest.skip("numba is not installed")
    code = (
        "import warnings\n"
        "import numba\n"
        "from kronop._engine import jit\n"
        "real = numba.njit\n"
        "def fake(*args, **kw):\n"
        "    if kw.get('cache'):\n"
        "        raise RuntimeError('cannot cache function: no locator available')\n"
        "    return real(*args, **kw)\n"
        "numba.njit = fake\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    def inc(a):\n"
        "        return a + 1\n"
        "    f = jit.njit(inc)\n"
        "print(f(1), any('cannot cache' in str(x.message) for x in w))\n"
    )
    assert _run(code) == "2 True"
