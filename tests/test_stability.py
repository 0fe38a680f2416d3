"""Tests of lmsbn.stability: the Gauss-Newton stability bound in the units of train."""

import numpy as np
import pytest

from lmsbn import bridge
from lmsbn.nn import BatchNorm1d, BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, ReLU, Sequential
from lmsbn.nn import functional as F
from lmsbn.stability import (
    StabilityBound, gn_explicit, gn_lambda_max, gn_matvec, stability_bound,
)


def _mlp(bn, seed=1):
    layers = [Linear(4, 6, rng=seed, bias=not bn)]
    if bn:
        layers.append(BatchNorm1d(6, gamma=1.5))
    return Sequential(*layers, ReLU(), Linear(6, 3, rng=seed + 1))


def _cnn(bn, seed=0):
    layers = [Conv2d(2, 3, 3, padding=1, rng=seed, bias=not bn)]
    if bn:
        layers.append(BatchNorm2d(3))
    return Sequential(*layers, ReLU(), GlobalAvgPool2d(), Linear(3, 4, rng=seed + 1))


def _theta(model):
    return np.concatenate([p.ravel() for _, p, _ in model.named_parameters()])


def _set(model, theta):
    i = 0
    for _, p, _ in model.named_parameters():
        p[...] = theta[i:i + p.size].reshape(p.shape)
        i += p.size


def _fd_jacobian(model, x, h=1e-5):
    """(N*C, P) Jacobian of the training-mode batch output, column by column, by central
    differences: independent of the backward pass the operator uses."""
    theta = _theta(model)
    cols = []
    with bridge._BatchNormSnapshot(model):
        for i in range(theta.size):
            e = np.zeros_like(theta)
            e[i] = h
            _set(model, theta + e)
            fp = model.forward(x, train=True)
            _set(model, theta - e)
            fm = model.forward(x, train=True)
            cols.append(((fp - fm) / (2 * h)).ravel())
        _set(model, theta)
        out = model.forward(x, train=True)
    return np.array(cols).T, out


def _explicit_hessian(loss, out):
    N, C = out.shape
    if loss == "mse":
        return np.eye(N * C) / out.size
    p = np.exp(out - out.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    H = np.zeros((N * C, N * C))
    for n in range(N):
        H[n * C:(n + 1) * C, n * C:(n + 1) * C] = (np.diag(p[n]) - np.outer(p[n], p[n])) / N
    return H


CASES = [(_mlp, False, (10, 4)), (_mlp, True, (10, 4)), (_cnn, False, (6, 2, 4, 4)),
         (_cnn, True, (6, 2, 4, 4))]


@pytest.mark.parametrize("make,bn,shape", CASES)
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_matvec_and_lambda_max_match_an_explicit_matrix(make, bn, shape, loss):
    x = np.random.default_rng(0).standard_normal(shape)
    model = make(bn)
    J, out = _fd_jacobian(model, x)
    G = J.T @ _explicit_hessian(loss, out) @ J
    v = np.random.default_rng(1).standard_normal(G.shape[0])
    # Both sides carry central-difference errors, O(h^2) between ReLU kinks: measured ~1e-9
    # relative here; 1e-6 leaves room for other BLAS orderings and still catches a wrong factor.
    np.testing.assert_allclose(gn_matvec(model, x, v, loss=loss), G @ v,
                               rtol=1e-6, atol=1e-6 * np.abs(G @ v).max())
    # the backward-built explicit matrix agrees with the finite-difference one
    np.testing.assert_allclose(gn_explicit(model, x, loss=loss), G, atol=1e-6 * np.abs(G).max())
    top = np.linalg.eigvalsh(G)[-1]
    est = gn_lambda_max(model, x, loss=loss, iters=3000, tol=1e-13, rng=0)
    assert est.converged
    assert est.lambda_max == pytest.approx(top, rel=1e-6)


def test_block_is_the_diagonal_block_and_interlaces():
    x = np.random.default_rng(2).standard_normal((8, 4))
    model = _mlp(True)
    names = [n for n, _, _ in model.named_parameters()]
    sizes = [p.size for _, p, _ in model.named_parameters()]
    G = gn_explicit(model, x)
    start = sum(sizes[:names.index("fc2.weight")])
    stop = start + sizes[names.index("fc2.weight")]
    Gb = gn_explicit(model, x, params=["fc2.weight"])
    np.testing.assert_allclose(Gb, G[start:stop, start:stop], rtol=1e-12, atol=1e-15)
    v = np.random.default_rng(3).standard_normal(stop - start)
    # finite differences over one layer (~1e-9 relative measured)
    np.testing.assert_allclose(gn_matvec(model, x, v, params=["fc2.weight"]), Gb @ v,
                               rtol=1e-6, atol=1e-7 * np.abs(Gb @ v).max())
    assert np.linalg.eigvalsh(Gb)[-1] <= np.linalg.eigvalsh(G)[-1] * (1 + 1e-12)


def test_linear_layer_into_mse_has_gain_one_over_outputs():
    """The exact LMS case: a linear layer feeding lmsbn's mse_loss sees R (x) I / F."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 5)) * np.array([3.0, 1.0, 1.0, 0.5, 0.2])
    model = Sequential(Linear(5, 3, rng=0))
    b = stability_bound(model, x, rng.standard_normal((50, 3)), loss="mse", iters=500, tol=1e-12,
                        rng=0)
    R = x.T @ x / len(x)
    d = b.per_layer["fc1"]
    assert d["r_lambda_max"] == pytest.approx(np.linalg.eigvalsh(R)[-1], rel=1e-12)
    # the weights' block is exactly R/3 (x) I: finite differences of a linear map are exact up
    # to rounding; 1e-7 relative covers the power iteration's stopping tolerance too
    assert d["gain"] == pytest.approx(1 / 3, rel=1e-7)
    assert b.lr_max == 2 / b.lambda_max


def test_stability_bound_leaves_the_model_untouched_and_round_trips(tmp_path):
    x = np.random.default_rng(5).standard_normal((6, 2, 4, 4))
    y = np.array([0, 1, 2, 3, 0, 1])
    model = _cnn(True)
    out = model.forward(x, train=True)
    _, d = F.softmax_cross_entropy(out, y)
    model.backward(d)
    before = [(p.copy(), g.copy()) for _, p, g in model.named_parameters()]
    state = model["bn1"].state.copy()
    caches = [layer.cache for layer in model]
    b = stability_bound(model, x, y, iters=20, rng=0)
    for (_, p, g), (p0, g0) in zip(model.named_parameters(), before):
        np.testing.assert_array_equal(p, p0)
        np.testing.assert_array_equal(g, g0)
    np.testing.assert_array_equal(model["bn1"].state.running_mean, state.running_mean)
    np.testing.assert_array_equal(model["bn1"].state.running_var, state.running_var)
    assert all(a is c for a, c in zip((layer.cache for layer in model), caches))
    assert set(b.per_layer) == {"conv1", "fc1"}
    for dct in b.per_layer.values():
        # a diagonal block's top eigenvalue is at most the whole matrix's (interlacing); the
        # estimates are power-iteration lower bounds, hence the 1 % slack
        assert dct["gn_lambda_max"] <= b.lambda_max * 1.01
        assert dct["gain"] == pytest.approx(dct["gn_lambda_max"] / dct["r_lambda_max"])
    assert b.loss_value == pytest.approx(F.softmax_cross_entropy(out, y)[0])
    assert "unit-gain LMS" in b.summary()
    b2 = StabilityBound.load(b.save(tmp_path / "b"))
    assert b2.per_layer == b.per_layer and b2.lambda_max == b.lambda_max
    np.testing.assert_array_equal(b2.history, b.history)


def test_validation():
    model = _mlp(False)
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match="v must have"):
        gn_matvec(model, x, np.ones(5))
    with pytest.raises(TypeError, match="Sequential"):
        gn_lambda_max(object(), x)
    with pytest.raises(ValueError, match="loss"):
        gn_matvec(model, x, np.ones(model.num_parameters()), loss="hinge")
    with pytest.raises(ValueError, match="params must name"):
        gn_matvec(model, x, np.ones(3), params=["nope.weight"])
    with pytest.raises(ValueError, match="labels"):
        stability_bound(model, x, np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="v0"):
        gn_lambda_max(model, x, v0=np.zeros(model.num_parameters()))
    assert bridge.stability_bound is stability_bound
