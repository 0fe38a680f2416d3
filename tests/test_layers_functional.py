"""The small layers: linear, ReLU, max/avg/global-avg pooling, and the two losses."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import seeds

from lmsbn.nn.activations import relu_backward, relu_forward
from lmsbn.nn.gradcheck import check_backward
from lmsbn.nn.linear import linear_backward, linear_forward
from lmsbn.nn.losses import mse_loss, softmax_cross_entropy
from lmsbn.nn.pooling import (
    avgpool2d_backward,
    avgpool2d_forward,
    global_avgpool_backward,
    global_avgpool_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)


def distinct_image(shape, rng):
    """Entries 0.1 apart in random order: no max-pool ties, and no tie within 2h of the kink."""
    return rng.permutation(np.arange(np.prod(shape)) * 0.1 - 1.0).reshape(shape)


def naive_pool(x, k, stride, reduce):
    """Loop reference, written independently of the vectorised code."""
    N, C, H, W = x.shape
    Ho, Wo = (H - k) // stride + 1, (W - k) // stride + 1
    out = np.empty((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, c, i, j] = reduce(
                        x[n, c, i * stride:i * stride + k, j * stride:j * stride + k])
    return out


# --------------------------------------------------------------------------------------------
# Linear
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients(bias):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    if bias:
        check_backward(linear_forward, linear_backward, [x, w, rng.standard_normal(3)], rng=rng)
    else:
        check_backward(lambda x, w: linear_forward(x, w), linear_backward, [x, w], rng=rng)
        _, cache = linear_forward(x, w)
        assert linear_backward(np.ones((5, 3)), cache)[2] is None


def test_linear_matches_pytorch_layout():
    x = np.array([[1.0, 2.0], [0.0, -1.0]])
    w = np.array([[3.0, 4.0], [1.0, 0.0], [0.5, 0.5]])  # (F=3, D=2)
    out, _ = linear_forward(x, w, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(out, [[12.0, 3.0, 4.5], [-3.0, 2.0, 2.5]])


def test_linear_validation():
    with pytest.raises(ValueError, match=r"w must have shape \(any, 3\)"):
        linear_forward(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"b must have shape \(4,?\)"):
        linear_forward(np.ones((2, 3)), np.ones((4, 3)), np.ones(3))
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        linear_forward(np.ones(3), np.ones((4, 3)))
    _, cache = linear_forward(np.ones((2, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4\)"):
        linear_backward(np.ones((4, 2)), cache)


def test_linear_float32_preserved_and_infinities_propagate_quietly():
    x = np.ones((2, 3), dtype=np.float32)
    out, cache = linear_forward(x, np.ones((4, 3), dtype=np.float32), np.zeros(4, dtype=np.float32))
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32
               for g in linear_backward(np.ones((2, 4), dtype=np.float32), cache))
    # A diverged input must reach the training loop's divergence check, not raise or warn here
    # (pytest turns any RuntimeWarning into an error).
    out, _ = linear_forward(np.array([[np.inf, 1.0]]), np.array([[0.0, 1.0], [1.0, -1.0]]))
    assert not np.all(np.isfinite(out))


# --------------------------------------------------------------------------------------------
# ReLU
# --------------------------------------------------------------------------------------------


def test_relu_gradient():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5))
    x = np.where(np.abs(x) < 0.05, 0.05, x)  # keep every entry 25 finite-difference steps from 0
    check_backward(relu_forward, relu_backward, [x], rng=rng)


def test_relu_values_and_kink_convention():
    out, cache = relu_forward(np.array([-2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(out, [0.0, 0.0, 3.0])
    dx = relu_backward(np.array([5.0, 5.0, 5.0]), cache)
    np.testing.assert_array_equal(dx, [0.0, 0.0, 5.0])  # gradient 0 at x = 0, like PyTorch
    out32, _ = relu_forward(np.array([-1.0, 1.0], dtype=np.float32))
    assert out32.dtype == np.float32
    out_nan, _ = relu_forward(np.array([np.nan, -np.inf, np.inf]))
    # divergence stays visible
    assert np.isnan(out_nan[0]) and out_nan[1] == 0 and out_nan[2] == np.inf


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------

POOL_CASES = [  # (image shape, k, stride)
    ((2, 3, 4, 4), 2, None),  # the usual non-overlapping 2x2
    ((1, 2, 5, 5), 3, 1),  # overlapping windows: gradients accumulate
    ((2, 1, 5, 6), 3, 2),  # overlapping, and the last row/column is dropped (floor)
    ((1, 2, 4, 6), (2, 3), (1, 3)),  # rectangular kernel and stride
]


@pytest.mark.parametrize("shape, k, stride", POOL_CASES)
def test_maxpool_gradient_and_naive_agreement(shape, k, stride):
    rng = np.random.default_rng(2)
    x = distinct_image(shape, rng)

    def forward(x):
        return maxpool2d_forward(x, k, stride=stride)

    check_backward(forward, maxpool2d_backward, [x], rng=rng)
    if isinstance(k, int):
        expected = naive_pool(x, k, k if stride is None else stride, np.max)
        np.testing.assert_array_equal(forward(x)[0], expected)


@pytest.mark.parametrize("shape, k, stride", POOL_CASES)
def test_avgpool_gradient_and_naive_agreement(shape, k, stride):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)

    def forward(x):
        return avgpool2d_forward(x, k, stride=stride)

    check_backward(forward, avgpool2d_backward, [x], rng=rng)
    if isinstance(k, int):
        expected = naive_pool(x, k, k if stride is None else stride, np.mean)
        np.testing.assert_allclose(forward(x)[0], expected, rtol=1e-14, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(2, 6), w=st.integers(2, 6), k=st.integers(1, 3), stride=st.integers(1, 3),
       seed=seeds())
def test_pooling_property(h, w, k, stride, seed):
    rng = np.random.default_rng(seed)
    k = min(k, h, w)
    x = distinct_image((2, 2, h, w), rng)
    np.testing.assert_array_equal(maxpool2d_forward(x, k, stride=stride)[0],
                                  naive_pool(x, k, stride, np.max))
    np.testing.assert_allclose(avgpool2d_forward(x, k, stride=stride)[0],
                               naive_pool(x, k, stride, np.mean), rtol=1e-13, atol=1e-14)
    # Scaled error (see check_backward(scaled=True)): hypothesis finds upstream entries or
    # overlapping-window sums near zero, where the elementwise measure only sees round-off.
    check_backward(lambda x: maxpool2d_forward(x, k, stride=stride), maxpool2d_backward, [x],
                   rng=rng, tol=1e-9, scaled=True)
    check_backward(lambda x: avgpool2d_forward(x, k, stride=stride), avgpool2d_backward, [x],
                   rng=rng, tol=1e-9, scaled=True)


def test_maxpool_tie_sends_the_gradient_to_the_first_maximum():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    out, cache = maxpool2d_forward(x, 2)
    assert out[0, 0, 0, 0] == 3.0
    dx = maxpool2d_backward(np.array([[[[2.0]]]]), cache)
    # row-major: (0, 1) before (1, 0)
    np.testing.assert_array_equal(dx, [[[[0.0, 2.0], [0.0, 0.0]]]])


def test_global_avgpool():
    rng = np.random.default_rng(4)
    for shape in [(2, 3, 4, 5), (3, 2, 7)]:
        x = rng.standard_normal(shape)
        out, _ = global_avgpool_forward(x)
        assert out.shape == shape[:2]
        np.testing.assert_allclose(out, x.reshape(shape[0], shape[1], -1).mean(axis=2), rtol=1e-14)
        check_backward(global_avgpool_forward, global_avgpool_backward, [x], rng=rng)


def test_nn_has_one_pair_helper_and_one_window_scatter():
    # Issue 14: the helpers live once, in lmsbn.nn.im2col; a private copy in another module
    # would be a different function object.
    from lmsbn.nn import conv, im2col, layers, pooling

    assert conv._pair is layers._pair is pooling._pair is im2col._pair
    assert pooling._add_windows is im2col._add_windows


def test_pooling_validation_and_dtype():
    with pytest.raises(ValueError,
                       match=r"k = \(5, 5\) is larger than the input's spatial size \(4, 4\)"):
        maxpool2d_forward(np.ones((1, 1, 4, 4)), 5)
    with pytest.raises(ValueError, match="k = .* is larger"):
        avgpool2d_forward(np.ones((1, 1, 4, 2)), (2, 3))
    with pytest.raises(ValueError, match="k must be >= 1"):
        maxpool2d_forward(np.ones((1, 1, 4, 4)), 0)
    # Pooling, conv and im2col share one pair helper: a pair of the wrong length is a
    # ValueError, a value that is no int a TypeError.
    with pytest.raises(ValueError, match="stride must be an int or a pair"):
        avgpool2d_forward(np.ones((1, 1, 4, 4)), 2, stride=(1, 2, 3))
    with pytest.raises(TypeError, match="k must be an int or a pair"):
        maxpool2d_forward(np.ones((1, 1, 4, 4)), 2.0)
    with pytest.raises(TypeError, match=r"k\[1\] must be an integer"):
        maxpool2d_forward(np.ones((1, 1, 4, 4)), (2, 2.0))
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        maxpool2d_forward(np.ones((4, 4)), 2)
    with pytest.raises(ValueError, match="x must have 3 or 4 dimensions"):
        global_avgpool_forward(np.ones((4, 4)))
    _, cache = maxpool2d_forward(np.ones((1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"dout must have shape \(1, 1, 2, 2\)"):
        maxpool2d_backward(np.ones((1, 1, 4, 4)), cache)
    x32 = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    for fwd, bwd in [(maxpool2d_forward, maxpool2d_backward),
                     (avgpool2d_forward, avgpool2d_backward)]:
        out, cache = fwd(x32, 2)
        assert out.dtype == np.float32 and bwd(np.ones_like(out), cache).dtype == np.float32


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------


def loss_as_layer(loss_fn, *fixed):
    """Adapt ``loss(pred, *fixed) -> (loss, dpred)`` to the forward/backward pair interface."""
    def forward(pred):
        loss, dpred = loss_fn(pred, *fixed)
        return np.array(loss), dpred

    def backward(dout, dpred):
        return dout * dpred

    return forward, backward


def test_softmax_cross_entropy_gradient():
    rng = np.random.default_rng(5)
    logits, y = rng.standard_normal((6, 4)) * 2, rng.integers(0, 4, size=6)
    check_backward(*loss_as_layer(softmax_cross_entropy, y), [logits], rng=rng)


def test_softmax_cross_entropy_values():
    loss, dlogits = softmax_cross_entropy(np.zeros((3, 5)), np.array([0, 4, 2]))
    np.testing.assert_allclose(loss, np.log(5), rtol=1e-15)  # uniform logits: log(classes)
    np.testing.assert_allclose(dlogits.sum(axis=1), 0, atol=1e-16)  # softmax - onehot sums to 0
    # One hand-computed value: logits [0, ln 3] with label 1 give p = 3/4, loss = ln(4/3).
    loss, dlogits = softmax_cross_entropy(np.array([[0.0, np.log(3.0)]]), np.array([1]))
    np.testing.assert_allclose(loss, np.log(4 / 3), rtol=1e-14)
    np.testing.assert_allclose(dlogits, [[0.25, -0.25]], rtol=1e-14)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]])
    loss, dlogits = softmax_cross_entropy(logits, np.array([1, 2]))
    # Row 1: loss 1e4 (label 1 trails by 1e4); row 2: two tied winners, loss ln 2.
    np.testing.assert_allclose(loss, (1e4 + np.log(2)) / 2, rtol=1e-14)
    assert np.all(np.isfinite(dlogits))
    loss32, d32 = softmax_cross_entropy(logits.astype(np.float32), np.array([1, 2]))
    assert np.isfinite(loss32) and d32.dtype == np.float32


@pytest.mark.parametrize(
    "y, exc, match",
    [
        (np.array([0.0, 1.0]), TypeError, "y must be integer class labels"),
        (np.array([0, 3]), ValueError, r"y must hold labels in \[0, 3\)"),
        (np.array([-1, 0]), ValueError, r"y must hold labels in \[0, 3\)"),
        (np.array([0, 1, 2]), ValueError, r"y must have shape \(2,\)"),
    ],
)
def test_softmax_cross_entropy_validation(y, exc, match):
    with pytest.raises(exc, match=match):
        softmax_cross_entropy(np.zeros((2, 3)), y)


def test_mse_loss_gradient_and_value():
    rng = np.random.default_rng(6)
    pred, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    check_backward(*loss_as_layer(mse_loss, target), [pred], rng=rng)
    loss, dpred = mse_loss(np.array([1.0, 2.0]), np.array([0.0, 4.0]))
    assert loss == pytest.approx((1 + 4) / (2 * 2), rel=1e-15)  # the 1/2 convention
    np.testing.assert_array_equal(dpred, [0.5, -1.0])  # (pred - target) / size


def test_mse_sgd_step_is_block_lms():
    # A linear layer trained on mse_loss: w <- w - mu dL/dw equals w + mu E^T U / M, E = d - y.
    rng = np.random.default_rng(7)
    U, d, w = (rng.standard_normal((10, 3)), rng.standard_normal((10, 1)),
               rng.standard_normal((1, 3)))
    y, cache = linear_forward(U, w)
    _, dy = mse_loss(y, d)
    _, dw, _ = linear_backward(dy, cache)
    mu = 0.1
    np.testing.assert_allclose(w - mu * dw, w + mu * (d - y).T @ U / 10, rtol=1e-14)


def test_mse_refuses_broadcasting():
    with pytest.raises(ValueError, match=r"target must have exactly the shape of pred \(3, 1\)"):
        mse_loss(np.zeros((3, 1)), np.zeros(3))
