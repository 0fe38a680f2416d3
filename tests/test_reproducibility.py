"""The same seed gives bit-identical results, and nothing touches NumPy's global random state."""

import numpy as np

from lmsbn.bridge import ModeTracker, capture_regressors
from lmsbn.data import shapes
from lmsbn.filters import LMS, NLMS
from lmsbn.filters.signals import ar, ar1, equalizer, independent_regressors, system_identification
from lmsbn.nn import Conv2d, Linear, small_cnn
from lmsbn.train import train


def _run_everything(seed):
    """One call of every stochastic public entry point, all driven by ``seed``."""
    out = {}
    out["shapes"] = shapes(20, rng=seed)[0]
    out["conv_init"] = Conv2d(3, 4, 3, rng=seed).params["weight"]
    out["linear_init"] = Linear(5, 2, rng=seed).params["weight"]
    out["ar1"] = ar1(50, 0.8, rng=seed)
    out["ar"] = ar(50, [0.5, -0.2], rng=seed)
    out["eq"] = equalizer(3.1).sample(30, runs=2, rng=seed)[0]
    out["sysid"] = system_identification(np.ones(3), 30, rng=seed).sample()[1]
    out["indep"] = independent_regressors(10, np.eye(3), rng=seed)
    U = independent_regressors(60, np.eye(4), runs=3, rng=seed)
    out["lms"] = LMS(4, 0.05).run(U, U @ np.ones(4)).w_history
    out["nlms"] = NLMS(4, 0.5).run(U, U @ np.ones(4)).w_history
    X, y = shapes(96, rng=seed)
    tracker = ModeTracker(every=2, max_rows=100, rng=seed)
    hist = train(small_cnn(rng=seed), X, y, steps=4, callbacks=[tracker], rng=seed)
    out["train_loss"] = hist.loss
    out["tracker"] = tracker.record["conv2"].eigenvalues
    out["capture"] = capture_regressors(small_cnn(rng=seed), X, max_rows=50, rng=seed)["conv2"]
    return out


def test_same_seed_same_bits_and_global_state_untouched():
    np.random.seed(12345)
    state = np.random.get_state()
    a = _run_everything(7)
    after = np.random.get_state()
    assert all(np.array_equal(x, y) for x, y in zip(state[1:], after[1:])), \
        "a library call read or advanced NumPy's global random state"
    b = _run_everything(7)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
        assert a[key].dtype == b[key].dtype, key


def test_different_seeds_differ():
    a, b = _run_everything(1), _run_everything(2)
    differing = [k for k in a if not np.array_equal(a[k], b[k])]
    assert len(differing) == len(a), set(a) - set(differing)


def test_generator_or_int_seed_both_work():
    # An int seed means default_rng(seed): the same bits either way.
    a, b = shapes(5, rng=0), shapes(5, rng=np.random.default_rng(0))
    assert a[0].shape == (5, 3, 16, 16)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
