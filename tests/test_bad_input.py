"""The bad-input battery: every public function, fed wrong input, says so plainly.

Each case calls a public function with one bad argument and asserts a ``ValueError`` or
``TypeError`` whose message names that argument -- never an ``IndexError``, a broadcasting error
from deep inside NumPy, a silent NaN result or a hang. The bad values are the usual suspects:
wrong ranks, mismatched shapes, empty arrays, NaN/Inf, int/complex/object dtypes, zero or
negative sizes and step sizes, and unknown option strings. Hypothesis generates more of them for
the array-taking kernels.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmsbn import bridge, data, nn, spectral, train
from lmsbn import filters as fl
from lmsbn.filters import signals
from lmsbn.nn import functional as F
from lmsbn.nn import gradcheck

rng = np.random.default_rng(0)
X4 = rng.normal(size=(2, 3, 5, 5))
W4 = rng.normal(size=(4, 3, 3, 3))
X3 = rng.normal(size=(2, 3, 8))
W3 = rng.normal(size=(4, 3, 3))
NAN4 = X4.copy()
NAN4[0, 0, 0, 0] = np.nan
INF2 = np.eye(3)
INF2[1, 1] = np.inf
U = rng.normal(size=(20, 4))
R = np.eye(4)
STATE = F.BatchNormState.create(3)
G3 = np.ones(3)


def _spec():
    return spectral.Spectrum.from_matrix(R)


def _model():
    return nn.small_cnn(rng=0)


# (id, callable taking no arguments, expected exception types, a fragment the message must hold)
CASES = [
    # ---------------------------------------------------------------- im2col / conv
    ("im2col2d rank", lambda: F.im2col2d(X3, 3, 3), ValueError, "x"),
    ("im2col2d kernel too big", lambda: F.im2col2d(X4, 9, 3), ValueError, "kernel"),
    ("im2col2d stride 0", lambda: F.im2col2d(X4, 3, 3, stride=0), ValueError, "stride"),
    ("im2col2d pad -1", lambda: F.im2col2d(X4, 3, 3, pad=-1), ValueError, "pad"),
    ("im2col2d float kernel", lambda: F.im2col2d(X4, 2.5, 3), TypeError, "kh"),
    ("im2col2d complex", lambda: F.im2col2d(X4 + 1j, 3, 3), TypeError, "x"),
    ("im2col2d object", lambda: F.im2col2d(X4.astype(object), 3, 3), TypeError, "x"),
    ("im2col2d empty", lambda: F.im2col2d(np.zeros((0, 3, 5, 5)), 3, 3), ValueError, "x"),
    ("col2im2d cols shape", lambda: F.col2im2d(np.zeros((5, 27)), X4.shape, 3, 3),
     ValueError, "cols"),
    ("im2col1d rank", lambda: F.im2col1d(X4, 3), ValueError, "x"),
    ("conv2d channel mismatch", lambda: F.conv2d_forward(X4, W4[:, :2]), ValueError, "w"),
    ("conv2d bias shape", lambda: F.conv2d_forward(X4, W4, np.ones(3)), ValueError, "b"),
    ("conv2d NaN", lambda: F.conv2d_forward(NAN4, W4), ValueError, "x"),
    ("conv2d kernel > padded", lambda: F.conv2d_forward(X4[:, :, :2, :2], W4),
     ValueError, "kernel"),
    ("conv2d_backward dout shape", lambda: F.conv2d_backward(np.ones((2, 4, 2, 2)),
                                                             F.conv2d_forward(X4, W4)[1]),
     ValueError, "dout"),
    ("conv1d channel mismatch", lambda: F.conv1d_forward(X3, W3[:, :1]), ValueError, "w"),
    ("conv2d naive channel mismatch", lambda: F.conv2d_forward_naive(X4, W4[:, :2]),
     ValueError, "w"),
    # ---------------------------------------------------------------- batchnorm
    ("bn unknown mode", lambda: F.batchnorm_forward(X4, G3, G3, STATE, train=True, mode="whiten"),
     ValueError, "mode"),
    ("bn gamma shape", lambda: F.batchnorm_forward(X4, np.ones(2), G3, STATE, train=True),
     ValueError, "gamma"),
    ("bn one value per channel", lambda: F.batchnorm_forward(np.ones((1, 3)), G3, G3,
                                                             F.BatchNormState.create(3),
                                                             train=True),
     ValueError, "value"),
    ("bn NaN", lambda: F.batchnorm_forward(NAN4, G3, G3, STATE, train=True), ValueError, "x"),
    ("bn negative eps", lambda: F.batchnorm_forward(X4, G3, G3, STATE, train=True, eps=-1.0),
     ValueError, "eps"),
    ("bn momentum > 1", lambda: F.batchnorm_forward(X4, G3, G3, STATE, train=True, momentum=2.0),
     ValueError, "momentum"),
    ("bn train not bool", lambda: F.batchnorm_forward(X4, G3, G3, STATE, train="yes"),
     TypeError, "train"),
    ("bn state size", lambda: F.batchnorm_forward(X4, G3, G3, F.BatchNormState.create(5),
                                                  train=True),
     ValueError, "state"),
    ("bn rank 1", lambda: F.batchnorm_forward(np.ones(3), G3, G3, STATE, train=True),
     ValueError, "x"),
    # ---------------------------------------------------------------- small layers and losses
    ("linear shape", lambda: F.linear_forward(np.ones((2, 3)), np.ones((4, 5))), ValueError, "w"),
    ("maxpool too big", lambda: F.maxpool2d_forward(X4, 9), ValueError, "k"),
    ("ce label range", lambda: F.softmax_cross_entropy(np.ones((2, 3)), np.array([0, 3])),
     ValueError, "y"),
    ("ce float labels", lambda: F.softmax_cross_entropy(np.ones((2, 3)), np.array([0.0, 1.0])),
     TypeError, "y"),
    ("ce length", lambda: F.softmax_cross_entropy(np.ones((2, 3)), np.array([0])), ValueError, "y"),
    ("mse shape", lambda: F.mse_loss(np.ones((2, 3)), np.ones((3, 2))), ValueError, "target"),
    # ---------------------------------------------------------------- layer classes & models
    ("Conv2d channels 0", lambda: nn.Conv2d(0, 4, 3), ValueError, "in_channels"),
    ("Conv2d kernel 0", lambda: nn.Conv2d(3, 4, 0), ValueError, "kernel_size"),
    ("BatchNorm2d mode", lambda: nn.BatchNorm2d(3, mode="Full"), ValueError, "mode"),
    ("BatchNorm2d rank", lambda: nn.BatchNorm2d(3).forward(np.ones((4, 3))),
     ValueError, "4 dimensions"),
    ("small_cnn norm", lambda: nn.small_cnn(norm="batch"), ValueError, "norm"),
    ("small_cnn widths", lambda: nn.small_cnn(widths=()), ValueError, "widths"),
    ("SGD lr", lambda: nn.SGD(_model().named_parameters(), lr=0.0), ValueError, "lr"),
    ("SGD momentum", lambda: nn.SGD(_model().named_parameters(), lr=0.1, momentum=1.0),
     ValueError, "momentum"),
    ("summary channels", lambda: _model().summary((1, 16, 16)), ValueError, "conv1"),
    # ---------------------------------------------------------------- training and data
    ("train lr", lambda: train.train(_model(), X4, np.zeros(2, int), lr=-1.0), ValueError, "lr"),
    ("train steps", lambda: train.train(_model(), X4, np.zeros(2, int), steps=0),
     ValueError, "steps"),
    ("train loss", lambda: train.train(_model(), X4, np.zeros(2, int), loss="l1"),
     ValueError, "loss"),
    ("train labels", lambda: train.train(_model(), X4, np.zeros(3, int)), ValueError, "y"),
    ("train NaN X", lambda: train.train(_model(), NAN4, np.zeros(2, int)), ValueError, "X"),
    ("train rng", lambda: train.train(_model(), X4, np.zeros(2, int), rng="seed"),
     TypeError, "rng"),
    ("shapes n", lambda: data.shapes(-1), ValueError, "n"),
    ("shapes classes", lambda: data.shapes(5, classes=1), ValueError, "classes"),
    ("load_npz missing", lambda: data.load_npz("/nonexistent/x.npz"),
     (ValueError, FileNotFoundError), "x.npz"),
    # ---------------------------------------------------------------- spectral core
    ("autocorrelation rank", lambda: spectral.autocorrelation(np.ones(4)), ValueError, "U"),
    ("autocorrelation NaN", lambda: spectral.autocorrelation(np.full((3, 2), np.nan)),
     ValueError, "U"),
    ("Spectrum not square", lambda: spectral.Spectrum.from_matrix(np.ones((2, 3))),
     ValueError, "R"),
    ("Spectrum not symmetric", lambda: spectral.Spectrum.from_matrix(np.triu(np.ones((3, 3)))),
     ValueError, "R"),
    ("Spectrum Inf", lambda: spectral.Spectrum.from_matrix(INF2), ValueError, "R"),
    ("Spectrum not PSD", lambda: spectral.Spectrum.from_matrix(-np.eye(2)), ValueError, "R"),
    ("mode_factors mu", lambda: _spec().mode_factors(-0.1), ValueError, "mu"),
    ("wiener shapes", lambda: spectral.wiener(R, np.ones(3)), ValueError, "p"),
    ("wiener singular", lambda: spectral.wiener(np.zeros((2, 2)), np.ones(2)), ValueError, "R"),
    ("misadjustment mu", lambda: spectral.misadjustment(R, 0.0), ValueError, "mu"),
    ("mode_coordinates K", lambda: spectral.mode_coordinates(np.ones((5, 3)), R, np.zeros(4)),
     ValueError, "w_history"),
    ("predicted_modes steps", lambda: spectral.predicted_modes(np.ones(4), R, 0.1, -1),
     ValueError, "steps"),
    ("channel_blocks factor", lambda: spectral.channel_blocks(np.eye(10), 3, 3),
     ValueError, "channels"),
    ("toeplitz empty", lambda: spectral.toeplitz_autocorrelation([]), ValueError, "r"),
    # ---------------------------------------------------------------- signals
    ("tapped_delay_line taps", lambda: signals.tapped_delay_line(np.ones(5), 0),
     ValueError, "taps"),
    ("tapped_delay_line NaN", lambda: signals.tapped_delay_line([1.0, np.nan], 2), ValueError, "x"),
    ("ar1 unstable", lambda: signals.ar1(10, 1.0, rng=0), ValueError, "a"),
    ("ar unstable", lambda: signals.ar(10, [1.5], rng=0), ValueError, "coeffs"),
    ("spread < 1", lambda: signals.ar1_coefficient_for_spread(0.5, 4), ValueError, "spread"),
    ("equalizer W", lambda: signals.equalizer(-1.0), ValueError, "W"),
    ("equalizer taps", lambda: signals.equalizer(3.1, taps=0), ValueError, "taps"),
    ("sysid input", lambda: signals.system_identification(np.ones(3), 10, input="pink"),
     ValueError, "input"),
    ("independent R", lambda: signals.independent_regressors(10, -np.eye(2)), ValueError, "R"),
    # ---------------------------------------------------------------- filters
    ("LMS mu", lambda: fl.LMS(4, -0.1), ValueError, "mu"),
    ("LMS taps", lambda: fl.LMS(0, 0.1), ValueError, "taps"),
    ("LMS w0", lambda: fl.LMS(4, 0.1, w0=np.ones(3)), ValueError, "w0"),
    ("NLMS eps", lambda: fl.NLMS(4, 0.5, eps=-1.0), ValueError, "eps"),
    ("BlockLMS block", lambda: fl.BlockLMS(4, 0.1, block=0), ValueError, "block"),
    ("run U taps", lambda: fl.LMS(4, 0.1).run(np.ones((10, 3)), np.ones(10)), ValueError, "U"),
    ("run d length", lambda: fl.LMS(4, 0.1).run(U, np.ones(19)), ValueError, "d"),
    ("run NaN", lambda: fl.LMS(4, 0.1).run(np.full((3, 4), np.nan), np.ones(3)), ValueError, "U"),
    ("run record", lambda: fl.LMS(4, 0.1).run(U, np.ones(20), record="some"), ValueError, "record"),
    ("step u", lambda: fl.LMS(4, 0.1).step(np.ones(3), 1.0), ValueError, "u"),
    # ---------------------------------------------------------------- bridge
    ("capture model", lambda: bridge.capture_regressors(object(), X4), TypeError, "model"),
    ("capture max_rows", lambda: bridge.capture_regressors(_model(), X4, max_rows=0),
     ValueError, "max_rows"),
    ("layer_spectra layers", lambda: bridge.layer_spectra(_model(), X4, layers=["relu1"]),
     ValueError, "layers"),
    ("rho shapes", lambda: bridge.rho(np.ones((2, 3)), np.eye(4)), ValueError, "C"),
    ("compare lr", lambda: bridge.compare_first_step(_model(), X4, np.zeros(2, int), lr=-1e-3),
     ValueError, "lr"),
    ("ModeTracker every", lambda: bridge.ModeTracker(every=0), ValueError, "every"),
    ("regressors layer", lambda: bridge.regressors(nn.ReLU(), X4), TypeError, "layer"),
    # ---------------------------------------------------------------- gradcheck
    ("numerical_gradient f", lambda: gradcheck.numerical_gradient(3, np.ones(2), np.ones(2)),
     TypeError, "f"),
    ("numerical_gradient h", lambda: gradcheck.numerical_gradient(np.sin, np.ones(2), np.ones(2),
                                                                  h=0.0),
     ValueError, "h"),
    ("rel_error shapes", lambda: gradcheck.rel_error(np.ones(2), np.ones(3)), ValueError, "shape"),
]


@pytest.mark.parametrize("call, exc, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(call, exc, fragment):
    with np.errstate(all="raise"):  # a bad input must not surface as a floating-point warning
        with pytest.raises(exc) as info:
            call()
    assert fragment in str(info.value), f"message does not name {fragment!r}: {info.value}"


# ------------------------------------------------------------------------- generated bad arrays
bad_dtypes = st.sampled_from([np.complex128, object, np.str_])
wrong_rank = st.integers(0, 6).filter(lambda r: r != 4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rank=wrong_rank)
def test_conv2d_rejects_any_wrong_rank(rank):
    x = np.ones((2,) * rank)
    with pytest.raises(ValueError, match="x"):
        F.conv2d_forward(x, W4)


@settings(max_examples=30, deadline=None)
@given(dtype=bad_dtypes, fn=st.sampled_from(["conv", "bn", "autocorr", "tdl", "lms"]))
def test_non_real_dtypes_are_type_errors(dtype, fn):
    calls = {
        "conv": lambda a: F.conv2d_forward(a, W4),
        "bn": lambda a: F.batchnorm_forward(a, G3, G3, F.BatchNormState.create(3), train=True),
        "autocorr": lambda a: spectral.autocorrelation(a.reshape(-1, 3)),
        "tdl": lambda a: signals.tapped_delay_line(a.ravel(), 3),
        "lms": lambda a: fl.LMS(3, 0.1).run(a.reshape(-1, 3), np.ones(a.size // 3)),
    }
    a = X4.astype(dtype) if dtype is not np.str_ else X4.astype(str)
    with pytest.raises(TypeError):
        calls[fn](a)


@settings(max_examples=40, deadline=None)
@given(mu=st.one_of(st.floats(max_value=0.0, allow_nan=False), st.just(float("nan")),
                    st.just(float("inf"))),
       cls=st.sampled_from([fl.LMS, fl.NLMS]))
def test_filters_reject_non_positive_or_non_finite_step_sizes(mu, cls):
    with pytest.raises(ValueError, match="mu"):
        cls(3, mu)


@settings(max_examples=30, deadline=None)
@given(pos=st.tuples(st.integers(0, 1), st.integers(0, 2), st.integers(0, 4), st.integers(0, 4)),
       value=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_a_single_non_finite_entry_is_caught(pos, value):
    x = X4.copy()
    x[pos] = value
    with pytest.raises(ValueError, match="finite"):
        F.conv2d_forward(x, W4)


def test_divergence_is_an_outcome_not_an_exception_everywhere():
    # Filters: mu far past 2 / lambda_max; the ensemble carries on, the diverged runs are flagged.
    Ue = signals.independent_regressors(200, np.eye(4), runs=3, rng=0)
    with np.errstate(all="raise"):
        res = fl.LMS(4, 5.0).run(Ue, Ue @ np.ones(4))
        X, y = data.shapes(128, rng=0)
        hist = train.train(nn.small_cnn(norm="none", rng=0), X, y, steps=20, lr=50.0, rng=0)
    assert res.diverged.all() and (res.diverged_at >= 0).all() and all(res.reason)
    assert hist.diverged and hist.diverged_at >= 0 and hist.reason
