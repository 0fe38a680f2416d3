"""The two filter engines agree: the reference loop (the lesson) and the vectorised ensemble engine.

``AdaptiveFilter.reference_run`` filters one realization one sample at a time with ``w @ u``;
``AdaptiveFilter.run`` filters every realization at once with ``einsum`` over (B, K) slabs, in
chunks of samples. Where the two use different NumPy kernels the comparison has a tolerance and
says why; where they run the same operations on the same layouts (chunked against unchunked) it
is bit for bit. Also here: ``lmsbn.use(lms_step=...)`` driving the filters, and the bounded
memory of ``record="none"``.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
from test_filters import FACTORIES, _problem

import lmsbn
from lmsbn import filters
from lmsbn.filters import (
    LMS,
    NLMS,
    AffineProjection,
    BlockLMS,
    learning_curves,
    lms_step,
    nlms_step,
    signals,
)
from lmsbn.filters import engine as adaptive
from lmsbn.homework import swappable, use

pytestmark = pytest.mark.a1_filters


def _assert_close(a, b, *, rtol, atol):
    """Equal up to round-off, and NaN exactly where the other has NaN."""
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


# --------------------------------------------------------------------------------------------
# Reference loop == ensemble engine, for every rule
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FACTORIES)
def test_engine_equals_the_reference_loop(name):
    U, d, _ = _problem(4, 50, 4)
    ens = FACTORIES[name](4).run(U, d)
    for i in range(4):
        ref = FACTORIES[name](4).reference_run(U[i], d[i])
        # The reference loop computes w @ u (BLAS dot) and, for window rules, U @ w (BLAS gemv);
        # the engine uses einsum. Both are exact dot products rounded differently (a few ulps
        # per step); 50 steps of stable filters (contractions along u, and RLS's well
        # conditioned P with delta = 0.1) keep the gap far below 1e-9 relative.
        _assert_close(ens.y[i], ref.y, rtol=1e-9, atol=1e-12)
        _assert_close(ens.e[i], ref.e, rtol=1e-9, atol=1e-12)
        _assert_close(ens.w_history[i], ref.w_history, rtol=1e-9, atol=1e-12)
        assert ref.diverged is False and ens.diverged[i] == ref.diverged
    assert np.array_equal(ref.history_steps, np.arange(51))


@pytest.mark.parametrize("name", ["LMS", "NLMS", "BlockLMS", "AffineProjection"])
def test_divergence_is_found_at_the_same_step_by_both_engines(name):
    U, d, _ = _problem(3, 200, 4)
    U = U * np.array([1.0, 40.0, 1.0])[:, None, None]    # realization 1 is far too loud for LMS
    make = {"LMS": lambda: LMS(4, 0.05), "NLMS": lambda: NLMS(4, 3.0),
            "BlockLMS": lambda: BlockLMS(4, 0.05, block=3),
            "AffineProjection": lambda: AffineProjection(4, 3.0, order=3, eps=1e-6)}[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # both engines stay quiet
        ens = make().run(U, d)
        refs = [make().reference_run(U[i], d[i]) for i in range(3)]
    for i, ref in enumerate(refs):
        # Geometric growth crosses the threshold by a wide margin, so round-off cannot move the
        # step at which it is crossed.
        assert ens.diverged_at[i] == ref.diverged_at and ens.reason[i] == ref.reason
        assert np.array_equal(np.isnan(ens.e[i]), np.isnan(ref.e))
        assert np.array_equal(np.isnan(ens.w_history[i]), np.isnan(ref.w_history))
    if name in ("LMS", "BlockLMS"):
        assert ens.diverged.tolist() == [False, True, False]
    assert ens.diverged.any()              # NLMS, APA: mu = 3 > 2 at any input scale


def test_reference_loop_by_hand_and_its_conventions():
    # The same binary-fraction example as test_tap_order_and_history_convention_by_hand: exact.
    U = signals.tapped_delay_line(np.array([1.0, 2.0, 3.0]), 2)
    f = LMS(2, 0.5)
    res = f.reference_run(U, np.array([1.0, 0.0, 2.0]))
    assert np.array_equal(res.y, [0.0, 1.0, -2.5]) and np.array_equal(res.e, [1.0, -1.0, 4.5])
    assert np.array_equal(res.w_history, [[0, 0], [0.5, 0], [-0.5, -0.5], [6.25, 4]])
    assert np.array_equal(f.w, [6.25, 4]) and res.diverged is False and res.reason == ""
    # It starts from w0 whatever ran before (it resets), unlike run, which continues.
    again = f.reference_run(U, np.array([1.0, 0.0, 2.0]))
    assert np.array_equal(again.y, res.y)


@pytest.mark.parametrize("name", ["BlockLMS", "AffineProjection", "RLS"])
def test_run_after_the_reference_loop_continues_it(name):
    # The reference loop leaves the state a later run needs: weights, block phase, the window's
    # last rows, RLS's P. Tolerance: the first half ran on the reference loop's kernels.
    U, d, _ = _problem(1, 40, 3)
    whole = FACTORIES[name](3).run(U[0], d[0])
    f = FACTORIES[name](3)
    f.reference_run(U[0, :17], d[0, :17])
    second = f.run(U[0, 17:], d[0, 17:])
    _assert_close(second.e, whole.e[17:], rtol=1e-9, atol=1e-12)


def test_reference_loop_rejects_an_ensemble():
    with pytest.raises(ValueError, match="reference_run filters one realization"):
        LMS(2, 0.1).reference_run(np.zeros((3, 5, 2)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="reference_run filters one realization"):
        LMS(2, 0.1, w0=np.zeros((3, 2))).reference_run(np.zeros((5, 2)), np.zeros(5))
    with pytest.raises(ValueError, match="d must have shape"):
        LMS(2, 0.1).reference_run(np.zeros((5, 2)), np.zeros(4))


# --------------------------------------------------------------------------------------------
# Chunks: the engine's memory bound changes no number
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("record", ["full", "none", 7])
def test_chunked_run_is_bit_identical_to_one_chunk(name, record, monkeypatch):
    # Chunks of 16 samples (the minimum) against one chunk holding all 70: the same operations on
    # the same C-contiguous (B, K) slabs, so NumPy guarantees the same bits. Window rules carry
    # their last rows across chunk borders; divergence (realization 2) is found across them too.
    U, d, _ = _problem(3, 70, 4)
    U[2] *= 20.0
    one = FACTORIES[name](4).run(U, d, record=record)
    monkeypatch.setattr(adaptive, "_CHUNK_NUMBERS", 1)
    chunked = FACTORIES[name](4).run(U, d, record=record)
    for field in ("y", "e", "w_history", "history_steps", "w_final", "diverged_at", "reason"):
        a, b = getattr(one, field), getattr(chunked, field)
        assert ((a is None and b is None)
                or np.array_equal(a, b, equal_nan=a.dtype.kind == "f")), field


def test_record_none_needs_no_copy_of_the_regressors():
    # The engine copies one chunk of regressors at a time (about 2 MiB) and keeps no weight
    # history, so its peak memory is the outputs y and e plus a few chunk buffers (measured
    # 12 MB here). A time-major copy of U, as an unchunked engine needs, would alone be 41 MB.
    U, d, _ = _problem(40, 8000, 16)                     # U: 41 MB; y and e: 5 MB
    tracemalloc.start()
    tracemalloc.reset_peak()
    LMS(16, 0.01).run(U, d, record="none")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < U.nbytes / 2, (peak, U.nbytes)


# --------------------------------------------------------------------------------------------
# lmsbn.use(lms_step=..., nlms_step=...): a student's step function drives the filters
# --------------------------------------------------------------------------------------------


def _counting(fn):
    calls = []

    def wrapper(*args):
        calls.append(args)
        return fn(*args)

    return wrapper, calls


@pytest.mark.parametrize("name, cls, args", [("lms_step", LMS, (0.05,)),
                                             ("nlms_step", NLMS, (0.5, 1e-6))])
def test_a_swapped_step_function_drives_the_filter(name, cls, args):
    U, d, _ = _problem(3, 30, 4)
    library = cls(4, *args).run(U, d)
    spy, calls = _counting(getattr(filters, name))
    with lmsbn.use(**{name: spy}):
        mine = cls(4, *args).run(U, d)
        f = cls(4, *args)
        f.step(U[:, 0], d[:, 0])
    assert len(calls) == 3 * 30 + 3                        # every sample of every realization
    w, u, dn, *params = calls[0]
    assert w.shape == u.shape == (4,) and isinstance(dn, float) and tuple(params) == args
    # The step function computes w @ u and w + mu e u with BLAS dot and plain products, the
    # engine with einsum: round-off only (30 stable steps).
    _assert_close(mine.e, library.e, rtol=1e-10, atol=1e-13)
    _assert_close(mine.w_history, library.w_history, rtol=1e-10, atol=1e-13)
    # y(n) is w(n) @ u(n), the reference loop's product, for every sample.
    assert all(mine.y[r, n] == mine.w_history[r, n] @ U[r, n] for r in range(3) for n in range(30))
    # Restored: no more calls.
    cls(4, *args).run(U, d)
    assert len(calls) == 3 * 30 + 3


def test_a_wrong_student_step_changes_the_results():
    # The swap is real: a sign error in the student's function shows in the filter's output.
    U, d, _ = _problem(2, 40, 3)

    def wrong(w, u, d, mu):
        e = d - w @ u
        return w - mu * e * u, e

    with use(lms_step=wrong):
        res = LMS(3, 0.05).run(U, d)
    assert not np.allclose(res.e, LMS(3, 0.05).run(U, d).e)


def test_swapped_step_records_divergence_quietly():
    # A 10x louder input makes LMS at mu = 0.05 diverge; through the student's path too the
    # divergence is a recorded outcome at the same step, not a flood of overflow warnings.
    U, d, _ = _problem(2, 300, 3)
    spy, calls = _counting(filters.lms_step)
    with warnings.catch_warnings(), use(lms_step=spy):
        warnings.simplefilter("error")
        res = LMS(3, 0.05).run(10 * U, d)
    ref = LMS(3, 0.05).run(10 * U, d)
    assert res.diverged.all() and len(calls) == 600
    assert np.array_equal(res.diverged_at, ref.diverged_at)


def test_step_functions_are_the_filters_rules():
    rng = np.random.default_rng(3)
    w, u, d = rng.standard_normal(5), rng.standard_normal(5), 0.7
    f = LMS(5, 0.1, w0=w)
    _, e = f.step(u, d)
    w_next, e_mine = lms_step(w, u, d, 0.1)
    # Same formula, einsum against BLAS dot: a few ulps.
    assert e_mine == pytest.approx(e, rel=1e-14)
    np.testing.assert_allclose(w_next, f.w, rtol=1e-13, atol=1e-15)
    f = NLMS(5, 0.5, eps=0.1, w0=w)
    f.step(u, d)
    np.testing.assert_allclose(nlms_step(w, u, d, 0.5, 0.1)[0], f.w, rtol=1e-13, atol=1e-15)


def test_swap_registry_lists_filter_steps_and_checks_names():
    names = swappable()
    assert {"lms_step", "nlms_step", "conv2d_backward"} <= set(names)
    assert "LMS" not in names and "learning_curve" not in names
    with pytest.raises(ValueError, match="lmsbn.filters") as info:
        with use(lms_stepp=lambda *a: None):
            pass
    assert "lms_step" in str(info.value)
    original = filters.lms_step
    with pytest.raises(TypeError, match="must be given a function"):
        with use(lms_step=original, nlms_step=3):
            pass
    assert filters.lms_step is original                   # validated before anything swapped


# --------------------------------------------------------------------------------------------
# The learning curves live in their own module; the old paths still work
# --------------------------------------------------------------------------------------------


def test_learning_curves_module_and_old_import_paths():
    assert filters.learning_curve is learning_curves.learning_curve
    assert filters.ensemble_learning_curve is learning_curves.ensemble_learning_curve
    assert filters.LearningCurve is learning_curves.LearningCurve
    assert filters.FilterResult is adaptive.FilterResult
    res = BlockLMS(3, 0.05, block=2).run(*_problem(5, 20, 3)[:2])
    np.testing.assert_allclose(learning_curves.learning_curve(res), np.mean(res.e**2, axis=0),
                               rtol=1e-14)  # summation order of two means
