"""The planner's measured speed constants: cache, switch, and plans that stay correct."""

import dataclasses
import json
import os
from functools import reduce

import numpy as np
import pytest
import scipy.sparse as sp

from kronop import KronOperator
from kronop._engine import calibrate
from kronop._engine.calibrate import DEFAULT, Speeds
from kronop._engine.plan import plan_chain
from kronop._factor import as_factor

from .factories import check_close, hi, random_array


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """Calibration on, an empty cache directory, and a fake (instant) measurement."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv(calibrate.ENV_VAR, "on")
    calls = []

    def fake():
        calls.append(1)
        return dataclasses.replace(DEFAULT, peak=1e9 + len(calls), source="measured")

    monkeypatch.setattr(calibrate, "measure", fake)
    calibrate.reset()
    yield calls
    calibrate.reset()


@pytest.fixture(autouse=True)
def _restore():
    yield
    calibrate.reset()


def test_measure_is_short_and_sane():
    s = calibrate.measure()
    assert s.source == "measured"
    assert 0 < s.seconds < 60  # ≈ 0.3 s on an idle machine
    assert s.peak > 0
    assert s.copy_bw > 0
    for op in calibrate.FORMS:
        for size, e in s.forms[op]:
            assert size in calibrate.SIZES
            assert 0 < e <= 1
    for _, pts in s.mid_keep:
        assert all(0 < e <= 1 for _, e in pts)
    assert Speeds.from_json(json.loads(json.dumps(s.to_json()))) == dataclasses.replace(
        s, source="measured"
    )


def test_cache_round_trip(fresh, tmp_path):
    first = calibrate.speeds()
    assert fresh == [1]
    assert first.source == "measured"
    path = calibrate.cache_path()
    assert path.parent == tmp_path / "kronop"
    assert path.exists()
    calibrate.reset()
    again = calibrate.speeds()
    assert fresh == [1], "a cached measurement is not taken again"
    assert again.source == "cache"
    assert dataclasses.replace(again, source="measured") == first
    assert calibrate.speeds() is again  # one object per process


def test_cache_is_keyed_by_machine(fresh, monkeypatch):
    calibrate.speeds()
    key = calibrate.machine_key()
    other = {**key, "numpy": "0.0"}
    assert calibrate.cache_path(other) != calibrate.cache_path(key)
    # a file that holds another machine's key is not trusted
    path = calibrate.cache_path(key)
    data = json.loads(path.read_text())
    data["key"] = other
    path.write_text(json.dumps(data))
    calibrate.reset()
    assert calibrate.speeds().source == "measured"
    assert fresh == [1, 1]


@pytest.mark.parametrize(
    "content",
    ["", "{not json", "[]", '{"key": 1}', "null"],
    ids=["empty", "garbage", "list", "no-speeds", "null"],
)
def test_corrupt_cache_is_measured_again(fresh, content):
    path = calibrate.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    s = calibrate.speeds()
    assert s.source == "measured"
    assert fresh == [1]
    # and the file was repaired
    calibrate.reset()
    assert calibrate.speeds().source == "cache"
    assert fresh == [1]


@pytest.mark.parametrize("field", ["peak", "transpose_size"])
def test_malformed_speeds_in_cache(fresh, field):
    path = calibrate.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    bad = DEFAULT.to_json()
    if field == "peak":
        bad["peak"] = -1.0
    else:  # an infinite size: int() overflows
        bad["transpose_bw"] = [[float("inf"), 2e9], *bad["transpose_bw"][1:]]
    path.write_text(json.dumps({"key": calibrate.machine_key(), "speeds": bad}))
    assert calibrate.speeds().source == "measured"
    assert fresh == [1]


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root writes into read-only directories",
)
def test_unwritable_directory_keeps_it_in_memory(fresh, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        os.environ["XDG_CACHE_HOME"] = str(ro)
        s = calibrate.speeds()
        assert s.source == "measured"
        assert calibrate.speeds() is s
        assert fresh == [1]
    finally:
        ro.chmod(0o700)


def test_cache_dir_that_is_a_file(fresh, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    os.environ["XDG_CACHE_HOME"] = str(blocker)  # mkdir under a file fails
    s = calibrate.speeds()
    assert s.source == "measured"
    assert calibrate.speeds() is s
    assert fresh == [1]
    assert not calibrate.cache_path().exists()


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no"])
def test_off_switch_uses_defaults(fresh, monkeypatch, tmp_path, value):
    monkeypatch.setenv(calibrate.ENV_VAR, value)
    assert calibrate.speeds() is DEFAULT
    assert fresh == []
    assert not (tmp_path / "kronop").exists()


def test_refresh_measures_again(fresh, monkeypatch):
    calibrate.speeds()
    calibrate.reset()
    monkeypatch.setenv(calibrate.ENV_VAR, "refresh")
    s = calibrate.speeds()
    assert s.source == "measured"
    assert fresh == [1, 1]
    monkeypatch.setenv(calibrate.ENV_VAR, "on")
    calibrate.reset()
    got = calibrate.speeds()
    assert got.source == "cache"
    assert got.peak == s.peak


def test_disturbed_measurement_is_not_cached(fresh, monkeypatch):
    monkeypatch.setattr(
        calibrate,
        "measure",
        lambda: dataclasses.replace(DEFAULT, source="measured", seconds=9.0),
    )
    s = calibrate.speeds()
    assert s.seconds == 9.0
    assert calibrate.speeds() is s
    assert not calibrate.cache_path().exists()


def test_implausible_measurement_falls_back_to_defaults(fresh, monkeypatch):
    calls = []

    def disturbed():
        calls.append(1)
        forms = dict(DEFAULT.forms)
        forms["front_rot"] = ((16, 0.01), (128, 0.01))  # 30× below the others
        return dataclasses.replace(DEFAULT, forms=forms, source="measured")

    monkeypatch.setattr(calibrate, "measure", disturbed)
    assert not calibrate.plausible(disturbed())
    calls.clear()
    s = calibrate.speeds()
    assert calls == [1, 1]  # measured twice
    assert s.source == "default"
    assert not calibrate.cache_path().exists()


def test_from_json_names_the_bad_field():
    d = DEFAULT.to_json()
    del d["forms"]["front_rot"]
    with pytest.raises(ValueError, match="forms"):
        Speeds.from_json(d)
    d = DEFAULT.to_json()
    d["transpose_bw"] = []
    with pytest.raises(ValueError, match="transpose_bw"):
        Speeds.from_json(d)
    d = DEFAULT.to_json()
    d["copy_bw"] = float("nan")
    with pytest.raises(ValueError, match="copy_bw"):
        Speeds.from_json(d)


def test_efficiency_interpolates_and_clamps():
    lo, hi_ = DEFAULT.forms["front_keep"]
    assert DEFAULT.efficiency("front_keep", 1, 1) == lo[1]
    assert DEFAULT.efficiency("front_keep", 10**6, 1) == hi_[1]
    mid = DEFAULT.efficiency("front_keep", 45, 1)
    assert min(lo[1], hi_[1]) <= mid <= max(lo[1], hi_[1])
    # a batch of thin GEMMs is slower than one GEMM of the same work
    assert DEFAULT.efficiency("mid_keep", 100, 16) < DEFAULT.efficiency(
        "front_rot", 100, 1
    )
    assert DEFAULT.transpose_rate(10**6) <= DEFAULT.copy_bw


# ------------------------------------------------- plans stay correct
def _skewed(favour: str) -> Speeds:
    """Constants under which one form looks ten times faster than the others."""
    forms = {
        op: tuple((n, 1.0 if op == favour else 0.1) for n, _ in pts)
        for op, pts in DEFAULT.forms.items()
    }
    keep = 1.0 if favour == "mid_keep" else 0.05
    mid = tuple((n, tuple((R, keep) for R, _ in pts)) for n, pts in DEFAULT.mid_keep)
    tb = 1e12 if favour == "mid_front" else 1e8
    return dataclasses.replace(
        DEFAULT,
        forms=forms,
        mid_keep=mid,
        transpose_bw=tuple((r, tb) for r, _ in DEFAULT.transpose_bw),
        copy_bw=max(DEFAULT.copy_bw, tb),
        source="test",
    )


FAVOURS = ["front_keep", "back_rot", "front_rot", "back_keep", "mid_keep", "mid_front"]


@pytest.mark.parametrize("favour", FAVOURS)
def test_skewed_speeds_change_the_plan_not_the_result(favour, rng):
    calibrate.reset(_skewed(favour))
    shapes = [(3, 4), (5, 5), (2, 3), (4, 4)]
    mats = [random_array(rng, s, np.float64) for s in shapes]
    mats[1] = sp.random(5, 5, density=0.5, random_state=1, format="csr")
    dense = reduce(np.kron, [m.toarray() if sp.issparse(m) else m for m in mats])
    for dtype in (np.float32, np.complex128):
        for k, order in ((1, "C"), (3, "C"), (4, "F")):
            x = np.asarray(random_array(rng, (dense.shape[1], k), dtype), order=order)
            op = KronOperator(*mats)
            got = op @ x
            check_close(got, hi(dense) @ hi(x), dense, hi(x), dtype)
    ops = {
        s.op
        for s in plan_chain(
            [as_factor(np.ones((8, 8)), j) for j in range(3)], 1, 16, "C"
        ).steps
    }
    if favour in ("front_rot", "mid_keep"):
        assert favour in ops, (favour, ops)


def test_default_chain_for_many_columns_avoids_thin_batches():
    """d = 3, n = 100, 16 columns: one GEMM per factor, not 10⁴ GEMMs of 100 × 16."""
    calibrate.reset(DEFAULT)
    fs = [as_factor(np.ones((100, 100)), j) for j in range(3)]
    plan = plan_chain(fs, 1, 16, "C")
    assert not any(s.op == "mid_keep" and s.R < 64 for s in plan.steps)
    assert plan.direct_output  # the (16, m1, m2, m3) layout is a view of the result


@pytest.mark.parametrize("favour", ["mid_keep", "mid_front"])
def test_kronsum_mode_products_follow_the_constants(favour, rng):
    """Dense factors of a Kronecker sum: batched GEMMs or copy + one GEMM, same sums."""
    from kronop import KronSum
    from kronop._engine.plan import prefer_batched

    calibrate.reset(_skewed(favour))
    assert prefer_batched(12, 40, 16, 8) == (favour == "mid_keep")
    mats = [random_array(rng, (n, n), np.float64) for n in (5, 12, 4)]
    eyes = [np.eye(n) for n in (5, 12, 4)]
    dense = sum(
        reduce(
            np.kron,
            [
                m if i == j else e
                for i, (m, e) in enumerate(zip(mats, eyes, strict=True))
            ],
        )
        for j in range(3)
    )
    for dtype in (np.float32, np.complex128):
        x = random_array(rng, (dense.shape[1], 16), dtype)
        got = KronSum(*mats) @ x
        check_close(got, hi(dense) @ hi(x), dense, hi(x), dtype)
