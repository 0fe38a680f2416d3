"""BatchNorm and its variants: exact gradients, running statistics, eval mode, validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import bn_channel_sigmas, seeds

from lmsbn.nn.batchnorm import (
    BN_MODES,
    BatchNormCache,
    BatchNormState,
    batchnorm_backward,
    batchnorm_forward,
)
from lmsbn.nn.gradcheck import check_backward, numerical_gradient, rel_error
from lmsbn.nn.linear import linear_backward, linear_forward

pytestmark = pytest.mark.a5_batchnorm

SHAPES = {"2d": (8, 4), "3d": (3, 4, 5), "4d": (2, 4, 3, 3)}
# Per-channel standard deviations of the test inputs: two below the reference (their median,
# 1.15) and two above, all far from it, so that `amplify` and `suppress` exercise both sides and
# no finite-difference step can cross the kink at sigma = reference.
SIGMAS = np.array([0.5, 2.0, 0.6, 1.7])


def channel(v, ndim):
    """Per-channel vector (C,) shaped to broadcast against (N, C, ...)."""
    return np.asarray(v).reshape((1, -1) + (1,) * (ndim - 2))


def axes_of(ndim):
    return (0,) + tuple(range(2, ndim))


def make_input(shape, rng, sigmas=SIGMAS, offset=0.5):
    """x whose channel c has batch mean offset * (c + 1) and biased std exactly sigmas[c]."""
    x = rng.standard_normal(shape)
    ax = axes_of(len(shape))
    x = (x - x.mean(axis=ax, keepdims=True)) / x.std(axis=ax, keepdims=True)
    return (x * channel(sigmas, len(shape))
            + channel(offset * np.arange(1, shape[1] + 1), len(shape)))


def bn(x, state, *, train, mode="full", gamma=None, beta=None, **kw):
    C = np.shape(x)[1]
    gamma = np.linspace(0.5, 1.5, C) if gamma is None else gamma
    beta = np.linspace(-0.3, 0.3, C) if beta is None else beta
    return batchnorm_forward(x, gamma, beta, state, train=train, mode=mode, **kw)


# --------------------------------------------------------------------------------------------
# Exact gradients
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("mode", BN_MODES)
def test_train_gradients_every_mode(mode, shape):
    rng = np.random.default_rng(10 * BN_MODES.index(mode) + len(shape))
    x = make_input(shape, rng)
    gamma = rng.uniform(0.5, 1.5, 4) * np.array([1, -1, 1, -1])
    beta = rng.standard_normal(4)
    state = BatchNormState.create(4)
    # A warm-up batch: for `frozen` this is the first batch, so the check below is a later batch
    # (a fixed affine map); for the other modes it only moves the running statistics.
    bn(make_input(shape, rng), state, train=True, mode=mode)

    def forward(x, gamma, beta):
        return batchnorm_forward(x, gamma, beta, state, train=True, mode=mode)

    check_backward(forward, batchnorm_backward, [x, gamma, beta], rng=rng)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("mode", BN_MODES)
def test_eval_gradients_every_mode(mode, shape):
    rng = np.random.default_rng(7)
    state = BatchNormState.create(4)
    for _ in range(3):
        bn(make_input(shape, rng), state, train=True, mode=mode)
    x = make_input(shape, rng)

    def forward(x, gamma, beta):
        return batchnorm_forward(x, gamma, beta, state, train=False, mode=mode)

    check_backward(forward, batchnorm_backward,
                   [x, rng.standard_normal(4), rng.standard_normal(4)], rng=rng)
    # Evaluation is a constant affine map: dx is exactly gamma / s_c times dout.
    out, cache = forward(x, np.full(4, 2.0), np.zeros(4))
    dout = rng.standard_normal(x.shape)
    dx, _, _ = batchnorm_backward(dout, cache)
    np.testing.assert_allclose(dx, dout * 2.0 / channel(cache.sigma, x.ndim), rtol=1e-14)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_frozen_first_batch_has_no_gradient_through_statistics(shape):
    rng = np.random.default_rng(3)
    x = make_input(shape, rng)
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    state = BatchNormState.create(4)
    out, cache = batchnorm_forward(x, gamma, beta, state, train=True, mode="frozen")
    dout = rng.standard_normal(x.shape)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

    ax = axes_of(x.ndim)
    np.testing.assert_allclose(state.frozen_mean, x.mean(axis=ax), rtol=1e-14)
    np.testing.assert_allclose(state.frozen_var, x.var(axis=ax), rtol=1e-13)
    # The first batch's statistics are constants: the numerical gradient of the map they define
    # (now frozen in `state`) must match the first batch's analytic gradient.
    h = 1e-3  # the map is affine in x, so only round-off (~1e-12 here) limits the difference
    num = numerical_gradient(
        lambda a: batchnorm_forward(a, gamma, beta, state, train=True, mode="frozen")[0],
        x.copy(), dout, h)
    assert rel_error(dx, num) < 1e-7
    np.testing.assert_allclose(dx, dout * channel(gamma / np.sqrt(x.var(axis=ax) + 1e-5), x.ndim),
                               rtol=1e-13)
    # ...and differ from full BatchNorm's, which does differentiate through the statistics.
    _, cache_full = bn(x, BatchNormState.create(4), train=True, gamma=gamma, beta=beta)
    dx_full = batchnorm_backward(dout, cache_full)[0]
    assert not np.allclose(dx, dx_full)


@settings(max_examples=25, deadline=None)
@given(
    mode=st.sampled_from(BN_MODES),
    ndim=st.sampled_from([2, 3, 4]),
    n=st.integers(3, 4),  # M = 2 is degenerate: full BN maps any pair to (-1, 1), dx ~ eps
    sigmas=bn_channel_sigmas(),  # distinct and far apart: no kink of the reference is crossed
    spatial=st.integers(1, 3),
    train=st.booleans(),
    seed=seeds(),
)
def test_gradients_random_configurations(mode, ndim, n, sigmas, spatial, train, seed):
    rng = np.random.default_rng(seed)
    c = sigmas.size
    shape = (n, c) + (spatial,) * (ndim - 2)
    x = make_input(shape, rng, sigmas=sigmas, offset=rng.uniform(-1, 1))
    state = BatchNormState.create(c)
    bn(make_input(shape, rng, sigmas=sigmas), state, train=True, mode=mode)

    def forward(x, gamma, beta):
        return batchnorm_forward(x, gamma, beta, state, train=train, mode=mode)

    # Hypothesis hunts for the worst case, including gradient entries that cancel to ~1e-6, where
    # any finite difference's ~1e-11 absolute round-off breaks an elementwise 1e-7 tolerance; so
    # here the error is measured against the largest entry. A wrong formula errs by >= 1e-3.
    check_backward(forward, batchnorm_backward,
                   [x, rng.uniform(0.5, 2, c), rng.standard_normal(c)], rng=rng,
                   tol=1e-9, scaled=True)


@pytest.mark.parametrize("mode", ["full", "center"])
def test_input_gradient_sums_to_zero_per_channel(mode):
    # Centring by the batch mean makes the output invariant to a per-channel shift of x.
    rng = np.random.default_rng(11)
    x = make_input(SHAPES["4d"], rng)
    out, cache = bn(x, BatchNormState.create(4), train=True, mode=mode)
    dx = batchnorm_backward(rng.standard_normal(x.shape), cache)[0]
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0, atol=1e-13)  # round-off of 72 O(1) terms
    dx_ones = batchnorm_backward(np.ones_like(x), cache)[0]
    if mode == "full":
        # Why gradient checks must never use dout = ones: the true input gradient is zero.
        np.testing.assert_allclose(dx_ones, 0, atol=1e-14)


@pytest.mark.parametrize("mode", ["amplify", "suppress"])
def test_one_channel_is_its_own_reference_so_the_mode_is_center(mode):
    # With C = 1 the channel is the median: the documented tie rule takes the constant branch,
    # so forward and gradient are exactly the `center` mode's (no projection off xhat).
    x = np.array([[-1.0], [1.0], [-1.0], [3.0]])
    dout = np.array([[0.3], [-1.2], [0.7], [2.0]])
    out, cache = bn(x, BatchNormState.create(1), train=True, mode=mode)
    out_center, cache_center = bn(x, BatchNormState.create(1), train=True, mode="center")
    assert cache.sigma[0] == 1.0 and not cache.sigma_from_batch[0]
    np.testing.assert_array_equal(out, out_center)
    for ours, theirs in zip(batchnorm_backward(dout, cache),
                            batchnorm_backward(dout, cache_center)):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("mode", ["amplify", "suppress"])
@pytest.mark.parametrize("C", [3, 4])
def test_the_gradient_flows_through_the_reference(mode, C):
    # The reference (median of sigma) is a batch statistic: leaving its term out of the backward
    # gives a different, wrong gradient. The numerical gradient decides which one is right.
    rng = np.random.default_rng(21 + C)
    x = make_input((6, C, 3), rng, sigmas=np.array([0.4, 1.2, 3.3, 0.7])[:C])
    gamma, beta = rng.uniform(0.5, 2.0, C), rng.standard_normal(C)
    state = BatchNormState.create(C)
    _, cache = batchnorm_forward(x, gamma, beta, state, train=True, mode=mode)
    dout = rng.standard_normal(x.shape)
    dx = batchnorm_backward(dout, cache)[0]
    dx_const_ref = batchnorm_backward(dout, cache._replace(ref_weights=None))[0]
    num = numerical_gradient(lambda a: batchnorm_forward(a, gamma, beta, state.copy(), train=True,
                                                         mode=mode)[0], x.copy(), dout, 1e-6)
    # Central differences of a smooth map with h = 1e-6: error ~1e-9 relative; the missing
    # reference term changes dx by O(1) on the middle channels.
    assert rel_error(dx, num) < 1e-6
    assert rel_error(dx_const_ref, num) > 1e-3


@pytest.mark.parametrize("mode", ["amplify", "suppress"])
def test_variants_are_relative_to_the_layer_scale(mode):
    # Scaling the input scales the reference with it: the same channels are touched and the
    # output scales by the same factor (exactly for eps = 0), unlike a fixed threshold.
    rng = np.random.default_rng(22)
    x = make_input(SHAPES["4d"], rng, sigmas=np.array([0.5, 2.0, 0.25, 4.0]), offset=1.0)
    gamma, beta = np.ones(4), np.zeros(4)
    out, cache = batchnorm_forward(x, gamma, beta, BatchNormState.create(4), train=True, mode=mode,
                                   eps=0.0)
    for factor in (0.01, 30.0):
        out_f, cache_f = batchnorm_forward(factor * x, gamma, beta, BatchNormState.create(4),
                                           train=True, mode=mode, eps=0.0)
        np.testing.assert_array_equal(cache_f.sigma_from_batch, cache.sigma_from_batch)
        np.testing.assert_allclose(out_f, factor * out, rtol=1e-12, atol=1e-12 * factor)


# --------------------------------------------------------------------------------------------
# Forward semantics
# --------------------------------------------------------------------------------------------


def test_running_statistics_by_hand():
    # One channel, batch [1, 3]: mean 2, biased variance 1, unbiased variance 2, mean of x^2 5.
    state = BatchNormState.create(1)
    x = np.array([[1.0], [3.0]])
    expected = [  # (running_mean, running_var, running_meansq) after each step, momentum 0.1
        (0.2, 1.1, 1.4),
        (0.38, 1.19, 1.76),
        (0.542, 1.271, 2.084),
    ]
    for step, (m, v, q) in enumerate(expected, start=1):
        out, _ = batchnorm_forward(x, [1.0], [0.0], state, train=True, eps=0.0)
        np.testing.assert_allclose(out, [[-1.0], [1.0]], rtol=1e-15)  # biased variance normalises
        np.testing.assert_allclose(
            [state.running_mean[0], state.running_var[0], state.running_meansq[0]], [m, v, q],
            rtol=1e-14)
        assert state.num_batches_tracked == step


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("mode", BN_MODES)
def test_running_statistics_three_steps(mode, shape):
    rng = np.random.default_rng(5)
    state = BatchNormState.create(4)
    mean, var, meansq, ref = np.zeros(4), np.ones(4), np.ones(4), 1.0
    momentum = 0.25
    for _ in range(3):
        x = rng.standard_normal(shape) * channel([0.5, 2.0, 1.0, 3.0], len(shape)) + 1
        bn(x, state, train=True, mode=mode, momentum=momentum)
        xc = np.moveaxis(x, 1, 0).reshape(4, -1)
        mean = (1 - momentum) * mean + momentum * xc.mean(axis=1)
        var = (1 - momentum) * var + momentum * xc.var(axis=1, ddof=1)  # unbiased, like PyTorch
        meansq = (1 - momentum) * meansq + momentum * (xc**2).mean(axis=1)
        # even C: the median is the mean of the two middle unbiased sigmas
        middle = np.sort(np.sqrt(xc.var(axis=1, ddof=1) + 1e-5))[1:3]
        ref = (1 - momentum) * ref + momentum * middle.mean()
    np.testing.assert_allclose(state.running_ref, ref, rtol=1e-13)
    np.testing.assert_allclose(state.running_mean, mean, rtol=1e-13)
    np.testing.assert_allclose(state.running_var, var, rtol=1e-13)
    np.testing.assert_allclose(state.running_meansq, meansq, rtol=1e-13)
    assert state.num_batches_tracked == 3


def expected_map(mode, x, state, eps):
    """The evaluation map of each mode, written independently of the implementation."""
    c = lambda v: channel(v, x.ndim)  # noqa: E731
    sigma = np.sqrt(state.running_var + eps)
    if mode == "full":
        return (x - c(state.running_mean)) / c(sigma)
    if mode == "center":
        return x - c(state.running_mean)
    if mode == "scale":
        return x / c(np.sqrt(state.running_meansq + eps))
    if mode == "amplify":  # weak channels raised to the running reference's spread
        return ((x - c(state.running_mean))
                * c(state.running_ref / np.minimum(sigma, state.running_ref)))
    if mode == "suppress":  # strong channels lowered to it
        return ((x - c(state.running_mean))
                * c(state.running_ref / np.maximum(sigma, state.running_ref)))
    return (x - c(state.frozen_mean)) / c(np.sqrt(state.frozen_var + eps))


@pytest.mark.parametrize("mode", BN_MODES)
def test_eval_uses_running_statistics_and_leaves_state_alone(mode):
    rng = np.random.default_rng(9)
    state = BatchNormState.create(4)
    for _ in range(4):
        bn(make_input(SHAPES["4d"], rng), state, train=True, mode=mode, momentum=0.3)
    before = state.copy()
    x = make_input(SHAPES["4d"], rng) * 3
    gamma, beta = np.array([1.0, 2.0, -1.0, 0.5]), np.array([0.0, 1.0, 2.0, 3.0])
    out, cache = batchnorm_forward(x, gamma, beta, state, train=False, mode=mode)
    np.testing.assert_allclose(
        out, channel(gamma, 4) * expected_map(mode, x, state, 1e-5) + channel(beta, 4),
        rtol=1e-13, atol=1e-13)
    assert cache.train is False and not cache.center_from_batch and not cache.sigma_from_batch.any()
    for field in ("running_mean", "running_var", "running_meansq", "running_ref", "frozen_mean",
                  "frozen_var"):
        a, b = getattr(state, field), getattr(before, field)
        assert (a is None and b is None) or np.array_equal(a, b), field
    assert state.num_batches_tracked == before.num_batches_tracked == 4


def test_frozen_keeps_the_first_batch_statistics():
    rng = np.random.default_rng(4)
    state = BatchNormState.create(4)
    first = make_input(SHAPES["3d"], rng)
    bn(first, state, train=True, mode="frozen", eps=0.0)
    m0, v0 = state.frozen_mean.copy(), state.frozen_var.copy()
    second = make_input(SHAPES["3d"], rng, sigmas=SIGMAS * 5, offset=-2.0)
    out, cache = bn(second, state, train=True, mode="frozen", eps=0.0, gamma=np.ones(4),
                    beta=np.zeros(4))
    np.testing.assert_array_equal(state.frozen_mean, m0)
    np.testing.assert_array_equal(state.frozen_var, v0)
    np.testing.assert_allclose(out, (second - channel(m0, 3)) / channel(np.sqrt(v0), 3), rtol=1e-14)
    # The second batch is NOT normalised: its channels keep a 5x larger spread than the first's.
    np.testing.assert_allclose(out.std(axis=(0, 2)), 5.0, rtol=1e-12)
    # Running statistics are still tracked, so they follow the second batch.
    m1 = second.mean(axis=(0, 2))
    np.testing.assert_allclose(state.running_mean, 0.9 * 0.1 * m0 + 0.1 * m1, rtol=1e-14)
    assert state.num_batches_tracked == 2
    # Eval uses the frozen statistics too: the same map.
    out_eval, _ = bn(second, state, train=False, mode="frozen", eps=0.0, gamma=np.ones(4),
                     beta=np.zeros(4))
    np.testing.assert_array_equal(out_eval, out)
    state.reset()
    assert state.frozen_mean is None and state.num_batches_tracked == 0


def test_frozen_eval_before_training_acts_like_a_fresh_batchnorm():
    x = np.arange(12.0).reshape(3, 4)
    out, _ = bn(x, BatchNormState.create(4), train=False, mode="frozen", gamma=np.ones(4),
                beta=np.zeros(4))
    np.testing.assert_allclose(out, x / np.sqrt(1 + 1e-5), rtol=1e-15)


def test_full_is_scale_invariant():
    rng = np.random.default_rng(12)
    x = make_input(SHAPES["4d"], rng)
    out1, _ = bn(x, BatchNormState.create(4), train=True, eps=0.0)
    out3, _ = bn(3 * x, BatchNormState.create(4), train=True, eps=0.0)
    np.testing.assert_allclose(out3, out1, rtol=1e-13, atol=1e-13)
    # With eps > 0 the invariance holds up to eps / var: channel variances here are >= 0.25,
    # so the relative effect is below 1e-5 * 4 / 2 = 2e-5.
    out3_eps, _ = bn(3 * x, BatchNormState.create(4), train=True)
    np.testing.assert_allclose(out3_eps, bn(x, BatchNormState.create(4), train=True)[0],
                               rtol=2e-5, atol=2e-5)


def test_input_gradient_is_orthogonal_to_the_input():
    # sum_i x_i dL/dx_i = 0 per channel (eps = 0): the directional derivative along x itself,
    # i.e. d/dalpha BN(alpha x) at alpha = 1, is zero.
    rng = np.random.default_rng(13)
    x = make_input(SHAPES["3d"], rng)
    _, cache = bn(x, BatchNormState.create(4), train=True, eps=0.0)
    dx = batchnorm_backward(rng.standard_normal(x.shape), cache)[0]
    per_channel = (x * dx).sum(axis=(0, 2))
    scale = np.abs(x * dx).sum(axis=(0, 2))
    assert np.all(np.abs(per_channel) < 1e-13 * scale)  # round-off of a sum of ~15 products


def test_conv_weights_feeding_batchnorm_get_orthogonal_gradients():
    # Tutorial 07, fact 2: for z = U w followed by BN, w . dL/dw = 0, so SGD never shrinks ||w||.
    rng = np.random.default_rng(14)
    U = rng.standard_normal((32, 6)) + 0.5
    W = rng.standard_normal((3, 6))
    z, lin_cache = linear_forward(U, W)
    _, bn_cache = bn(z, BatchNormState.create(3), train=True, eps=0.0)
    dz = batchnorm_backward(rng.standard_normal(z.shape), bn_cache)[0]
    _, dW, _ = linear_backward(dz, lin_cache)
    np.testing.assert_allclose(np.sum(W * dW, axis=1), 0, atol=1e-12 * np.abs(W * dW).sum())


@pytest.mark.parametrize("mode", ["amplify", "suppress"])
def test_clipped_modes_touch_only_one_side(mode):
    rng = np.random.default_rng(15)
    x = make_input(SHAPES["2d"], rng, sigmas=np.array([0.5, 2.0, 0.25, 4.0]), offset=1.0)
    state = BatchNormState.create(4)
    gamma, beta = np.ones(4), np.zeros(4)
    out, cache = batchnorm_forward(x, gamma, beta, state, train=True, mode=mode, eps=0.0)
    full, _ = batchnorm_forward(x, gamma, beta, BatchNormState.create(4), train=True, eps=0.0)
    centred = x - x.mean(axis=0)
    ref = (0.5 + 2.0) / 2  # the median of the four sigmas: the mean of the two middle ones
    weak, strong = [0, 2], [1, 3]
    scaled, untouched = (weak, strong) if mode == "amplify" else (strong, weak)
    # Touched channels end with the reference's spread; the others are exactly `center`'s.
    np.testing.assert_allclose(out[:, scaled], ref * full[:, scaled], rtol=1e-14)
    np.testing.assert_allclose(out.std(axis=0)[scaled], ref, rtol=1e-14)
    np.testing.assert_allclose(out[:, untouched], centred[:, untouched], rtol=1e-14)
    np.testing.assert_array_equal(cache.sigma[untouched], 1.0)
    assert cache.ref == pytest.approx(ref, rel=1e-14)
    np.testing.assert_array_equal(cache.sigma_from_batch, np.isin(np.arange(4), scaled))


def test_scale_mode_divides_by_the_uncentred_rms():
    x = np.array([[1.0], [3.0]])  # mean of x^2 is 5
    out, cache = bn(x, BatchNormState.create(1), train=True, mode="scale", eps=0.0, gamma=[1.0],
                    beta=[0.0])
    np.testing.assert_allclose(out, x / np.sqrt(5.0), rtol=1e-15)
    assert cache.center[0] == 0 and not cache.center_from_batch


def test_cache_fields_for_the_bridge():
    x = np.array([[1.0, 10.0], [3.0, 30.0]])
    out, cache = batchnorm_forward(x, [2.0, 1.0], [0.0, 0.0], BatchNormState.create(2), train=True,
                                   eps=0.0)
    assert isinstance(cache, BatchNormCache) and cache.mode == "full" and cache.train is True
    np.testing.assert_allclose(cache.sigma, [1.0, 10.0])
    np.testing.assert_allclose(cache.center, [2.0, 20.0])
    np.testing.assert_allclose(cache.xhat, [[-1.0, -1.0], [1.0, 1.0]])
    np.testing.assert_allclose(cache.gamma, [2.0, 1.0])


def test_float32_is_preserved():
    rng = np.random.default_rng(16)
    x64 = make_input(SHAPES["4d"], rng)
    x32 = x64.astype(np.float32)
    state = BatchNormState.create(4)
    gamma, beta = np.linspace(0.5, 1.5, 4), np.zeros(4)  # float64 parameters are cast to x's dtype
    dout = rng.standard_normal(x64.shape)
    for mode in BN_MODES:
        out, cache = batchnorm_forward(x32, gamma, beta, state.copy(), train=True, mode=mode)
        grads = batchnorm_backward(dout.astype(np.float32), cache)
        out64, cache64 = batchnorm_forward(x64, gamma, beta, state.copy(), train=True, mode=mode)
        grads64 = batchnorm_backward(dout, cache64)
        assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads), mode
        # float32 round-off (6e-8) accumulated over the 18-value channel means: 1e-5 is ample.
        np.testing.assert_allclose(out, out64, rtol=1e-5, atol=1e-5)
        for g, g64 in zip(grads, grads64):
            np.testing.assert_allclose(g, g64, rtol=1e-4, atol=1e-5)
        out_eval, _ = batchnorm_forward(x32, gamma, beta, state, train=False, mode=mode)
        assert out_eval.dtype == np.float32


def test_ints_become_float64():
    x = np.array([[1, 2], [3, 5]])
    out, _ = batchnorm_forward(x, [1, 1], [0, 0], BatchNormState.create(2), train=True)
    assert out.dtype == np.float64


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

GOOD = dict(x=np.ones((4, 3)) * np.arange(4)[:, None], gamma=np.ones(3), beta=np.zeros(3))


@pytest.mark.parametrize(
    "change, exc, match",
    [
        (dict(mode="whiten"), ValueError, r"mode must be one of \('full', 'center'"),
        (dict(gamma=np.ones(4)), ValueError, "gamma must have shape"),
        (dict(beta=np.ones((3, 1))), ValueError, "beta must have shape"),
        (dict(state=BatchNormState.create(5)), ValueError, "state has 5 channels but x has 3"),
        (dict(state="running stats"), TypeError, "state must be a BatchNormState"),
        (dict(x=np.ones(4)), ValueError, "x must have 2 or 3 or 4 dimensions"),
        (dict(x=np.ones((2, 3, 2, 2, 2))), ValueError, "x must have 2 or 3 or 4 dimensions"),
        (dict(x=np.array([[0.0, 1.0, np.nan], [1.0, 2.0, 3.0]])), ValueError, "x must be finite"),
        (dict(eps=-1e-5), ValueError, "eps must be non-negative"),
        (dict(momentum=1.5), ValueError, r"momentum must be in \[0, 1\]"),
        (dict(momentum=-0.1), ValueError, "momentum must be non-negative"),
        (dict(x=np.ones((1, 3))), ValueError, "x must have more than 1 value per channel"),
        (dict(train=1), TypeError, "train must be a bool"),
        (dict(train="yes"), TypeError, "train must be a bool"),
        (dict(x=np.ones((4, 3)), eps=0.0), ValueError, "channels .* have zero variance and eps"),
    ],
)
def test_bad_input_raises_naming_the_argument(change, exc, match):
    kw = dict(GOOD, state=BatchNormState.create(3), train=True)
    kw.update(change)
    x, gamma, beta, state = kw.pop("x"), kw.pop("gamma"), kw.pop("beta"), kw.pop("state")
    with pytest.raises(exc, match=match):
        batchnorm_forward(x, gamma, beta, state, **kw)


def test_single_value_per_channel_is_fine_in_eval():
    state = BatchNormState.create(3)
    out, _ = batchnorm_forward(np.ones((1, 3)), np.ones(3), np.zeros(3), state, train=False)
    np.testing.assert_allclose(out, 1 / np.sqrt(1 + 1e-5))


def test_backward_validates_its_arguments():
    _, cache = batchnorm_forward(GOOD["x"], GOOD["gamma"], GOOD["beta"], BatchNormState.create(3),
                                 train=True)
    with pytest.raises(ValueError, match="dout must have shape"):
        batchnorm_backward(np.ones((4, 2)), cache)
    with pytest.raises(TypeError, match="cache must be the BatchNormCache"):
        batchnorm_backward(np.ones((4, 3)), (1, 2, 3))


def test_state_create_and_reset():
    state = BatchNormState.create(3, dtype=np.float32)
    assert state.num_features == 3 and state.running_var.dtype == np.float32
    np.testing.assert_array_equal(state.running_meansq, 1)
    batchnorm_forward(GOOD["x"], GOOD["gamma"], GOOD["beta"], state, train=True, mode="frozen")
    assert state.running_mean.dtype == np.float32 and state.frozen_mean is not None
    copy = state.copy()
    state.reset()
    np.testing.assert_array_equal(state.running_mean, 0)
    np.testing.assert_array_equal(state.running_var, 1)
    assert state.running_ref.shape == () and state.running_ref == 1
    assert state.frozen_var is None and state.num_batches_tracked == 0
    # the copy is independent
    assert copy.num_batches_tracked == 1 and np.any(copy.running_mean != 0)
    with pytest.raises(ValueError, match="num_features must be >= 1"):
        BatchNormState.create(0)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        BatchNormState.create(3, dtype=np.int64)
