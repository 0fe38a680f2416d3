"""The homework checkers: they accept correct code written any way, reject typical mistakes with a
message naming the output, report bad input plainly; and ``use`` swaps and restores functions."""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsbn.filters import LMS
from lmsbn.filters.signals import tapped_delay_line
from lmsbn.homework import checkers as E
from lmsbn.homework import swappable, use
from lmsbn.nn import functional as F
from lmsbn.nn import small_cnn
from lmsbn.spectral import autocorrelation


def fails(check, fn, *args, match):
    """Run ``check`` and return its ExerciseFailed message, asserting it contains ``match``."""
    with pytest.raises(E.ExerciseFailed, match=match) as info:
        check(fn, *args)
    return str(info.value)


# ---------------------------------------------------------------------------------------------
# Correct implementations written differently from the library
# ---------------------------------------------------------------------------------------------

def im2col_loops(x, kh, kw, stride=1, pad=0):
    """One element at a time, reading the unpadded input with a bounds test."""
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W + 2 * pad - kw) // stride + 1
    cols = np.zeros((N * Ho * Wo, C * kh * kw), dtype=x.dtype)
    for n in range(N):
        for ho in range(Ho):
            for wo in range(Wo):
                for c in range(C):
                    for i in range(kh):
                        for j in range(kw):
                            r, s = ho * stride + i - pad, wo * stride + j - pad
                            if 0 <= r < H and 0 <= s < W:
                                cols[(n * Ho + ho) * Wo + wo, (c * kh + i) * kw + j] = x[n, c, r, s]
    return cols


def col2im_padded(cols, x_shape, kh, kw, stride=1, pad=0, *, use_stride=True, add=True):
    """Offset-by-offset scatter into a padded buffer (flags switch on two typical bugs)."""
    N, C, H, W = x_shape
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W + 2 * pad - kw) // stride + 1
    patches = cols.reshape(N, Ho, Wo, C, kh, kw)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    st_ = stride if use_stride else 1
    for i in range(kh):
        for j in range(kw):
            target = (slice(None), slice(None),
                      slice(i, i + st_ * Ho, st_), slice(j, j + st_ * Wo, st_))
            value = patches[:, :, :, :, i, j].transpose(0, 3, 1, 2)
            if add:
                dxp[target] += value
            else:
                dxp[target] = value
    return dxp[:, :, pad:pad + H, pad:pad + W]


def conv_forward_einsum(x, w, b=None, stride=1, pad=0):
    """Convolution by an einsum over strided windows; the cache is the student's own dict."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))
    win = win[:, :, ::stride, ::stride]
    out = np.einsum("nchwij,fcij->nfhw", win, w)
    if b is not None:
        out = out + b[None, :, None, None]
    return out, {"x": x, "w": w, "has_bias": b is not None, "stride": stride, "pad": pad}


def conv_backward_einsum(dout, cache):
    x, w, s, p = cache["x"], cache["w"], cache["stride"], cache["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::s, ::s]
    dw = np.einsum("nchwij,nfhw->fcij", win, dout)
    dcols = np.einsum("fcij,nfhw->nhwcij", w, dout).reshape(-1, w[0].size)
    dx = col2im_padded(dcols, x.shape, *w.shape[2:], stride=s, pad=p)
    db = dout.sum(axis=(0, 2, 3)) if cache["has_bias"] else None
    return dx, dw, db


def bn_forward(x, gamma, beta, state, *, train, momentum=0.1, eps=1e-5, running_unbiased=True,
               eps_inside=True):
    """Standard BatchNorm written over a (M, C) matrix view (flags switch on typical bugs)."""
    C = x.shape[1]
    rows = np.moveaxis(x, 1, -1).reshape(-1, C)
    M = rows.shape[0]
    if train:
        mean = rows.sum(0) / M
        var = ((rows - mean) ** 2).sum(0) / M
        unbiased = var * M / (M - 1) if running_unbiased else var
        state.running_mean = (1 - momentum) * state.running_mean + momentum * mean
        state.running_var = (1 - momentum) * state.running_var + momentum * unbiased
    else:
        mean, var = state.running_mean, state.running_var
    sigma = np.sqrt(var + eps) if eps_inside else np.sqrt(var) + eps
    xhat_rows = (rows - mean) / sigma
    out_rows = gamma * xhat_rows + beta
    shape = np.moveaxis(x, 1, -1).shape
    out = np.moveaxis(out_rows.reshape(shape), -1, 1)
    return out, (rows, mean, var, sigma, xhat_rows, gamma, x.shape)


def bn_backward_graph(dout, cache, *, mean_term=True):
    """The computational graph of BatchNorm walked back node by node (Kratzert's staging)."""
    rows, mean, var, sigma, xhat, gamma, shape = cache
    M = rows.shape[0]
    g = np.moveaxis(dout, 1, -1).reshape(-1, rows.shape[1])
    dbeta, dgamma = g.sum(0), (g * xhat).sum(0)
    dxhat = g * gamma
    xc = rows - mean                                  # node: centred input
    inv = 1.0 / sigma                                 # node: 1 / sigma
    dinv = (dxhat * xc).sum(0)
    dsigma = -dinv / sigma ** 2
    dvar = dsigma * 0.5 / sigma                       # sigma = sqrt(var + eps)
    dxc = dxhat * inv + dvar * 2 * xc / M             # var = mean(xc^2)
    dmean = -dxc.sum(0) if mean_term else 0.0         # xc = x - mean
    drows = dxc + dmean / M
    dx = np.moveaxis(drows.reshape(np.moveaxis(np.empty(shape), 1, -1).shape), -1, 1)
    return dx, dgamma, dbeta


def lms_outer(w, u, d, mu, *, sign=1.0):
    e = float(d - np.dot(u, w))
    return w + sign * mu * e * u, e


def nlms_variant(w, u, d, mu, eps, *, norm="square", use_eps=True):
    e = d - np.sum(w * u)
    energy = {"square": np.sum(u * u), "norm": np.linalg.norm(u)}[norm]
    return w + mu * e * u / ((eps if use_eps else 0.0) + energy), e


# ---------------------------------------------------------------------------------------------
# Acceptance: the library reference and independent implementations pass, visible and hidden
# ---------------------------------------------------------------------------------------------

# The library's own functions are the checkers' references, so their entries below only show
# that the checker runs end to end on them; the independent implementations carry the test.
ACCEPTED = [
    (E.check_im2col, (F.im2col2d,)), (E.check_im2col, (im2col_loops,)),
    (E.check_col2im, (F.col2im2d,)), (E.check_col2im, (col2im_padded,)),
    (E.check_conv_forward, (F.conv2d_forward,)), (E.check_conv_forward, (conv_forward_einsum,)),
    (E.check_conv_backward, (F.conv2d_backward,)),
    (E.check_conv_backward, (conv_backward_einsum, conv_forward_einsum)),
    (E.check_conv_backward, (F.conv2d_backward_naive, F.conv2d_forward_naive)),
    (E.check_batchnorm_forward, (F.batchnorm_forward,)), (E.check_batchnorm_forward, (bn_forward,)),
    (E.check_batchnorm_backward, (F.batchnorm_backward,)),
    (E.check_batchnorm_backward, (bn_backward_graph, bn_forward)),
    (E.check_lms_step, (lms_outer,)), (E.check_nlms_step, (nlms_variant,)),
    (E.check_autocorrelation, (autocorrelation,)),
    (E.check_autocorrelation, (lambda U: sum(np.outer(u, u) for u in U) / len(U),)),
    (E.check_tapped_delay_line, (tapped_delay_line,)),
]


@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("check, args", ACCEPTED,
                         ids=[f"{c.__name__}-{getattr(a[0], '__name__', 'lambda')}"
                              for c, a in ACCEPTED])
def test_correct_implementations_pass(check, args, hidden):
    report = check(*args, hidden=hidden)
    assert isinstance(report, E.ExerciseReport)
    assert report.cases >= 3 and report.hidden is hidden
    # Correct float64 code differs from the reference by round-off only (about 1e-13 at most
    # for the loop twins); the checkers' tolerance is 1e-7.
    assert report.max_error < 1e-10
    assert str(report).startswith(f"{check.__name__}: {report.cases} ")
    assert "passed (max rel error" in str(report)


def test_hidden_cases_use_other_shapes():
    # hidden=True must test shapes the visible cases never show, not only other random values.
    assert not set(E._conv_specs(False)) & set(E._conv_specs(True))
    assert not set(E._BN_SHAPES) & set(E._BN_SHAPES_HIDDEN)
    visible, hidden = E.check_lms_step(lms_outer), E.check_lms_step(lms_outer, hidden=True)
    assert "hidden" in str(hidden) and "hidden" not in str(visible)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_any_seed_accepts_an_independent_implementation_and_rejects_flipped_sign(seed):
    # conv_forward_einsum shares no code with the checker's reference; they differ by summation
    # order only (worst measured over 16 seeds, visible and hidden cases: 5.5e-13).
    assert E.check_conv_forward(conv_forward_einsum, rng=seed).max_error < 1e-10
    with pytest.raises(E.ExerciseFailed, match="w_next"):
        E.check_lms_step(lambda w, u, d, mu: lms_outer(w, u, d, mu, sign=-1.0), rng=seed)


# ---------------------------------------------------------------------------------------------
# Rejection: typical wrong implementations, each reported by the output it gets wrong
# ---------------------------------------------------------------------------------------------

@pytest.mark.a3_im2col
def test_im2col_off_by_one_padding_is_rejected():
    def im2col_extra_pad(x, kh, kw, stride=1, pad=0):
        # One zero row/column too many on every side: the windows are shifted by one pixel.
        big = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        return F.im2col2d(big, kh, kw, stride=stride, pad=pad)[: _rows(x, kh, kw, stride, pad)]

    msg = fails(E.check_im2col, im2col_extra_pad, match="`cols`")
    assert "index" in msg and "relative error" in msg and "x (" in msg


def _rows(x, kh, kw, s, p):
    N, _, H, W = x.shape
    return N * ((H + 2 * p - kh) // s + 1) * ((W + 2 * p - kw) // s + 1)


@pytest.mark.a3_im2col
def test_im2col_wrong_output_size_is_rejected_with_shapes():
    def im2col_no_plus_one(x, kh, kw, stride=1, pad=0):
        return F.im2col2d(x, kh, kw, stride=stride, pad=pad)[:-1]

    msg = fails(E.check_im2col, im2col_no_plus_one, match="has shape")
    assert "expected (" in msg


@pytest.mark.a3_im2col
def test_col2im_without_stride_or_overwriting_is_rejected():
    fails(E.check_col2im, lambda *a, **k: col2im_padded(*a, **k, use_stride=False), match="`dx`")
    fails(E.check_col2im, lambda *a, **k: col2im_padded(*a, **k, add=False), match="`dx`")


@pytest.mark.a4_conv
def test_conv_mistakes_are_rejected():
    def true_convolution(x, w, b=None, stride=1, pad=0):   # flips the kernel
        return conv_forward_einsum(x, w[:, :, ::-1, ::-1], b, stride, pad)

    def no_bias(x, w, b=None, stride=1, pad=0):
        return conv_forward_einsum(x, w, None, stride, pad)

    fails(E.check_conv_forward, true_convolution, match="`out`")
    fails(E.check_conv_forward, no_bias, match="`out`")

    def db_mean(dout, cache):
        dx, dw, db = F.conv2d_backward(dout, cache)
        return dx, dw, None if db is None else dout.mean(axis=(0, 2, 3))

    def dx_without_col2im_sum(dout, cache):
        dx, dw, db = F.conv2d_backward(dout, cache)
        return 0.5 * dx, dw, db

    fails(E.check_conv_backward, db_mean, match="`db`")
    fails(E.check_conv_backward, dx_without_col2im_sum, match="`dx`")

    def db_zeros_without_bias(dout, cache):
        dx, dw, db = F.conv2d_backward(dout, cache)
        return dx, dw, np.zeros(dout.shape[1]) if db is None else db

    fails(E.check_conv_backward, db_zeros_without_bias, match="`db` must be None")


@pytest.mark.a5_batchnorm
def test_batchnorm_mistakes_are_rejected():
    msg = fails(E.check_batchnorm_forward,
                lambda *a, **k: bn_forward(*a, **k, running_unbiased=False),
                match="state.running_var")
    assert "train=True" in msg
    fails(E.check_batchnorm_forward, lambda *a, **k: bn_forward(*a, **k, eps_inside=False),
          match="`out`")
    fails(E.check_batchnorm_backward, lambda d, c: bn_backward_graph(d, c, mean_term=False),
          bn_forward, match="`dx`")

    def dgamma_forgets_xhat(dout, cache):
        dx, _, dbeta = F.batchnorm_backward(dout, cache)
        return dx, dbeta, dbeta

    fails(E.check_batchnorm_backward, dgamma_forgets_xhat, match="`dgamma`")


@pytest.mark.a1_filters
def test_filter_mistakes_are_rejected():
    fails(E.check_lms_step, lambda w, u, d, mu: lms_outer(w, u, d, mu, sign=-1.0), match="`w_next")
    fails(E.check_nlms_step, lambda *a: nlms_variant(*a, use_eps=False), match="`w_next")
    fails(E.check_nlms_step, lambda *a: nlms_variant(*a, norm="norm"), match="`w_next")

    def lms_a_posteriori(w, u, d, mu):
        w_next = w + mu * (d - w @ u) * u
        return w_next, d - w_next @ u

    fails(E.check_lms_step, lms_a_posteriori, match="`e")


@pytest.mark.a2_spectral
def test_spectral_mistakes_are_rejected():
    fails(E.check_autocorrelation, lambda U: U.T @ U / (len(U) - 1), match="`R`")
    fails(E.check_autocorrelation, lambda U: np.cov(U.T, bias=True).reshape(U.shape[1], -1),
          match="`R`")
    fails(E.check_tapped_delay_line, lambda x, K: tapped_delay_line(x, K)[:, ::-1], match="`U`")


# ---------------------------------------------------------------------------------------------
# Bad input: plain messages, never a traceback from inside lmsbn
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("thing", [None, 3, np.zeros(3), "im2col"])
def test_not_callable(thing):
    msg = fails(E.check_im2col, thing, match="expected a function im2col")
    assert "got" in msg


def test_wrong_number_of_outputs():
    msg = fails(E.check_conv_forward, lambda x, w, b=None, stride=1, pad=0:
                F.conv2d_forward(x, w, b, stride=stride, pad=pad)[0],
                match=r"must return 2 values \(out, cache\), got a single value")
    assert "x (" in msg and "w (" in msg          # the case's shapes
    fails(E.check_conv_backward, lambda d, c: F.conv2d_backward(d, c)[:2],
          match=r"3 values \(dx, dw, db\), got 2")
    fails(E.check_lms_step, lambda w, u, d, mu: None, match="forget `return`")


def test_wrong_shape_and_dtype():
    fails(E.check_col2im, lambda cols, x_shape, *a, **k: np.zeros(x_shape[1:]),
          match=r"has shape \(.*\), expected \(")
    fails(E.check_im2col, lambda *a, **k: F.im2col2d(*a, **k).astype(np.float32),
          match="dtype float32, expected float64")
    fails(E.check_im2col, lambda *a, **k: F.im2col2d(*a, **k).astype(int), match="dtype int64")
    fails(E.check_im2col, lambda *a, **k: np.array(["a"]), match="dtype <U1")
    fails(E.check_lms_step, lambda w, u, d, mu: (w, np.zeros(3)), match="`e` .*shape")


def test_student_exceptions_become_exercise_failed():
    def broken(x, kh, kw, stride=1, pad=0):
        return x[99]

    with pytest.raises(E.ExerciseFailed, match="im2col raised IndexError") as info:
        E.check_im2col(broken)
    assert isinstance(info.value.student_exception, IndexError)
    assert "test_exercises.py line" in str(info.value)     # points at the student's line
    assert isinstance(info.value, AssertionError)           # plain assertion for autograders
    # The failure is raised from the checker's own frame: no chain of lmsbn internals, and the
    # student's exception is not printed as a second traceback (its line is in the message).
    frames = traceback.extract_tb(info.value.__traceback__)
    # Compare against the installed package's folder, not the text "lmsbn": a checkout cloned
    # into a folder named lmsbn would put that text in every frame, this test file's included.
    package = str(Path(E.__file__).resolve().parent) + os.sep
    assert sum(str(Path(f.filename).resolve()).startswith(package) for f in frames) == 1
    assert info.value.__suppress_context__

    def stub(w, u, d, mu):
        raise NotImplementedError

    with pytest.raises(E.ExerciseFailed, match="not implemented yet") as info:
        E.check_lms_step(stub)
    assert isinstance(info.value.student_exception, NotImplementedError)

    def nan_output(*a, **k):
        return np.full_like(F.im2col2d(*a, **k), np.nan)

    fails(E.check_im2col, nan_output, match="relative error inf")

    def no_stride_argument(x, kh, kw):
        return F.im2col2d(x, kh, kw)

    fails(E.check_im2col, no_stride_argument,
          match=r"raised TypeError: .*stride.* the expected signature is im2col\(x, kh, kw, "
                r"stride=1, pad=0\)")



@pytest.mark.a1_filters
@pytest.mark.parametrize("which", ["w", "u"])
def test_step_functions_that_write_into_their_inputs_are_rejected(which):
    # hw_01 forbids it: a caller that stores every w (a weight history) would see all entries
    # alias the final weights. The returned values are right, so only the inputs can tell.
    def lms_in_place(w, u, d, mu):
        e = float(d - w @ u)
        w_next = w + mu * e * u
        (w if which == "w" else u)[...] = w_next if which == "w" else u * 1.5
        return w_next, e

    def nlms_in_place(w, u, d, mu, eps):
        e = float(d - w @ u)
        w += mu * e * u / (eps + u @ u)
        return w, e

    msg = fails(E.check_lms_step, lms_in_place, match=f"lms_step modified its input `{which}` "
                f"in place")
    assert "case 1 of 6" in msg
    fails(E.check_nlms_step, nlms_in_place, match="nlms_step modified its input `w` in place")
    # A copy first, then in place on the copy, is fine.
    E.check_lms_step(lambda w, u, d, mu: lms_in_place(w.copy(), u.copy(), d, mu)
                     if which == "w" else lms_outer(w, u, d, mu))
    # Every checker does it: an im2col that zeroes its input, a col2im that scales its own.
    def im2col_destroys(x, kh, kw, stride=1, pad=0):
        cols = F.im2col2d(x, kh, kw, stride=stride, pad=pad)
        x[...] = 0.0
        return cols

    fails(E.check_im2col, im2col_destroys, match="im2col modified its input `x`")

    def col2im_zeroes_cols(cols, x_shape, kh, kw, stride=1, pad=0):
        dx = F.col2im2d(cols, x_shape, kh, kw, stride=stride, pad=pad)
        cols *= 0.0
        return dx

    fails(E.check_col2im, col2im_zeroes_cols, match="col2im modified its input `cols`")


class _GradTensor:
    """Stands in for a torch tensor that requires grad: numpy cannot read it."""

    def __init__(self, value):
        self.value = value

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                           "tensor.detach().numpy() instead.")

    def __repr__(self):
        return "tensor(..., requires_grad=True)"


@pytest.mark.parametrize("check, fn, output", [
    (E.check_lms_step, lambda w, u, d, mu: (_GradTensor(w), lms_outer(w, u, d, mu)[1]),
     "w_next"),
    (E.check_lms_step, lambda w, u, d, mu: lms_outer(w, u, d, mu)[:1] + (_GradTensor(0),), "e"),
    (E.check_im2col, lambda *a, **k: _GradTensor(F.im2col2d(*a, **k)), "cols"),
    (E.check_conv_backward, lambda d, c: (_GradTensor(1),) + F.conv2d_backward(d, c)[1:], "dx"),
])
def test_any_exception_while_reading_an_output_is_exercise_failed(check, fn, output):
    msg = fails(check, fn, match=f"`{output}` returned by .* cannot be read as an array")
    assert "RuntimeError: Can't call numpy() on Tensor that requires grad" in msg
    assert "tensor(..., requires_grad=True)" in msg
    with pytest.raises(E.ExerciseFailed) as info:
        check(fn)
    assert isinstance(info.value.student_exception, RuntimeError)

def test_checker_arguments_are_validated():
    with pytest.raises(TypeError, match="hidden"):
        E.check_im2col(F.im2col2d, hidden="yes")
    with pytest.raises(ValueError, match="tol"):
        E.check_im2col(F.im2col2d, tol=-1)


# ---------------------------------------------------------------------------------------------
# lmsbn.use
# ---------------------------------------------------------------------------------------------

def test_use_swaps_and_restores():
    original = F.conv2d_backward

    def mine(dout, cache):
        return original(dout, cache)

    with use(conv2d_backward=mine) as originals:
        assert F.conv2d_backward is mine
        assert originals == {"conv2d_backward": original}
    assert F.conv2d_backward is original

    with pytest.raises(ZeroDivisionError):
        with use(conv2d_backward=mine, batchnorm_backward=mine):
            assert F.batchnorm_backward is mine
            raise ZeroDivisionError("raised inside the with block")
    assert F.conv2d_backward is original
    assert F.batchnorm_backward.__module__ == "lmsbn.nn.batchnorm"


def test_use_nests():
    original = F.relu_forward

    def a(x):
        return original(x)

    def b(x):
        return original(x)

    with use(relu_forward=a):
        with use(relu_forward=b):
            assert F.relu_forward is b
        assert F.relu_forward is a
    assert F.relu_forward is original


def test_use_validates_before_swapping():
    original = F.conv2d_forward
    with pytest.raises(ValueError, match="conv2d_backward") as info:
        with use(conv2d_forward=lambda *a, **k: None, conv2d_backwrd=lambda *a: None):
            pass
    assert "valid names" in str(info.value)
    assert F.conv2d_forward is original                  # nothing was swapped
    with pytest.raises(TypeError, match="must be given a function"):
        with use(conv2d_forward=3):
            pass
    with pytest.raises(ValueError, match="at least one"):
        with use():
            pass
    names = swappable()
    assert "conv2d_backward" in names and "batchnorm_forward" in names
    assert not any(n.endswith("_naive") for n in names) and "BatchNormState" not in names


def test_training_calls_the_swapped_function():
    from lmsbn.train import train

    calls = {"conv": 0, "bn": 0}
    conv_ref, bn_ref = F.conv2d_backward, F.batchnorm_backward

    def conv_spy(dout, cache):
        calls["conv"] += 1
        return conv_ref(dout, cache)

    def bn_spy(dout, cache):
        calls["bn"] += 1
        return bn_ref(dout, cache)

    X = np.random.default_rng(0).standard_normal((16, 3, 8, 8))
    y = np.arange(16) % 4
    model = small_cnn(3, 4, widths=(4, 4), rng=0)
    with use(conv2d_backward=conv_spy, batchnorm_backward=bn_spy):
        hist = train(model, X, y, steps=2, batch_size=8, lr=0.01, rng=0)
    # Two conv+BN blocks, one backward pass per step: exactly 2 calls each per step.
    assert calls == {"conv": 4, "bn": 4}
    assert len(hist.loss) == 2
    train(model, X, y, steps=1, batch_size=8, lr=0.01, rng=0)
    assert calls == {"conv": 4, "bn": 4}                    # restored: no more spy calls


def test_lms_step_of_the_library_filter_agrees_with_the_hand_written_step():
    # lms_outer (this file's independent LMS step) and filters.LMS.step on one sample. The inputs
    # are short binary fractions and integers, so both compute e = 2.5 and the update exactly.
    f = LMS(3, 0.125, w0=np.array([1.0, 0.0, -1.0]))
    _, e = f.step(np.array([1.0, 2.0, 3.0]), 0.5)
    w_next, e_mine = lms_outer(np.array([1.0, 0.0, -1.0]), np.array([1.0, 2.0, 3.0]), 0.5, 0.125)
    assert e == e_mine == 2.5
    np.testing.assert_array_equal(f.w, w_next)
