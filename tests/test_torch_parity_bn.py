"""BatchNorm (mode ``full``) against PyTorch's ``batch_norm``: an independent implementation;
and the ``amplify``/``suppress`` variants against the same map written in torch and differentiated
by autograd (torch has no such modes, but its autograd is an independent backward).

Skipped when torch is not importable (it is never a dependency). Everything runs in float64,
where the two implementations differ only by summation order: 1e-10 leaves orders of magnitude
of margin over that round-off (measured ~1e-15) and is far below any formula mistake.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lmsbn.nn.batchnorm import BatchNormState, batchnorm_backward, batchnorm_forward  # noqa: E402
from lmsbn.nn.pooling import maxpool2d_backward, maxpool2d_forward  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.a5_batchnorm]

SHAPES = {"2d": (16, 3), "3d": (4, 3, 7), "4d": (4, 3, 5, 6)}
TOL = dict(rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_train_eval_running_stats_and_gradients_match_torch(shape):
    rng = np.random.default_rng(0)
    C, momentum, eps = shape[1], 0.2, 1e-3
    gamma, beta = rng.uniform(0.5, 2.0, C), rng.standard_normal(C)
    state = BatchNormState.create(C)
    t_mean = torch.zeros(C, dtype=torch.float64)
    t_var = torch.ones(C, dtype=torch.float64)

    for step in range(4):  # several steps: the running statistics compound
        x = (rng.standard_normal(shape)
             * rng.uniform(0.2, 3.0, (1, C) + (1,) * (len(shape) - 2)) + step)
        dout = rng.standard_normal(shape)
        out, cache = batchnorm_forward(x, gamma, beta, state, train=True, momentum=momentum,
                                       eps=eps)
        dx, dgamma, dbeta = batchnorm_backward(dout, cache)

        tx = torch.tensor(x, requires_grad=True)
        tg = torch.tensor(gamma, requires_grad=True)
        tb = torch.tensor(beta, requires_grad=True)
        t_out = torch.nn.functional.batch_norm(tx, t_mean, t_var, tg, tb, training=True,
                                               momentum=momentum, eps=eps)
        t_out.backward(torch.tensor(dout))

        np.testing.assert_allclose(out, t_out.detach().numpy(), **TOL)
        np.testing.assert_allclose(dx, tx.grad.numpy(), **TOL)
        np.testing.assert_allclose(dgamma, tg.grad.numpy(), **TOL)
        np.testing.assert_allclose(dbeta, tb.grad.numpy(), **TOL)
        np.testing.assert_allclose(state.running_mean, t_mean.numpy(), **TOL)
        np.testing.assert_allclose(state.running_var, t_var.numpy(), **TOL)

    x = rng.standard_normal(shape)
    dout = rng.standard_normal(shape)
    out, cache = batchnorm_forward(x, gamma, beta, state, train=False, eps=eps)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    tx = torch.tensor(x, requires_grad=True)
    tg = torch.tensor(gamma, requires_grad=True)
    tb = torch.tensor(beta, requires_grad=True)
    t_out = torch.nn.functional.batch_norm(tx, t_mean, t_var, tg, tb, training=False, eps=eps)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, t_out.detach().numpy(), **TOL)
    for ours, theirs in [(dx, tx), (dgamma, tg), (dbeta, tb)]:
        np.testing.assert_allclose(ours, theirs.grad.numpy(), **TOL)


def test_module_defaults_match_torch_batchnorm2d():
    # The defaults (momentum 0.1, eps 1e-5, running stats 0 and 1) against the nn.Module.
    rng = np.random.default_rng(1)
    layer = torch.nn.BatchNorm2d(3, dtype=torch.float64)
    state = BatchNormState.create(3)
    for _ in range(3):
        x = rng.standard_normal((2, 3, 4, 4)) * 2 + 1
        out, _ = batchnorm_forward(x, np.ones(3), np.zeros(3), state, train=True)
        np.testing.assert_allclose(out, layer(torch.tensor(x)).detach().numpy(), **TOL)
    np.testing.assert_allclose(state.running_mean, layer.running_mean.numpy(), **TOL)
    np.testing.assert_allclose(state.running_var, layer.running_var.numpy(), **TOL)
    assert state.num_batches_tracked == int(layer.num_batches_tracked)


def _torch_variant(x, gamma, beta, mode, eps):
    """lmsbn's amplify/suppress map written directly in torch (autograd does the backward)."""
    axes = [0] + list(range(2, x.dim()))
    view = (1, -1) + (1,) * (x.dim() - 2)
    m = x.mean(dim=axes, keepdim=True)
    sigma = torch.sqrt(((x - m) ** 2).mean(dim=axes) + eps)
    s_sorted = torch.sort(sigma).values
    C = sigma.shape[0]
    ref = (s_sorted[(C - 1) // 2] + s_sorted[C // 2]) / 2  # median; differentiable through sort
    clip = torch.minimum if mode == "amplify" else torch.maximum
    s = clip(sigma, ref) / ref
    return gamma.view(view) * (x - m) / s.view(view) + beta.view(view)


@pytest.mark.parametrize("mode", ["amplify", "suppress"])
@pytest.mark.parametrize("shape", [(16, 5), (4, 4, 7), (4, 3, 5, 6)], ids=["2d", "3d", "4d"])
def test_amplify_suppress_match_torch_autograd(mode, shape):
    rng = np.random.default_rng(2)
    C, eps = shape[1], 1e-3
    gamma, beta = rng.uniform(0.5, 2.0, C), rng.standard_normal(C)
    spread = np.array([0.3, 2.5, 1.0, 0.6, 4.0])[:C]  # distinct: no tie at the median
    x = rng.standard_normal(shape) * spread.reshape((1, C) + (1,) * (len(shape) - 2)) + 0.7
    dout = rng.standard_normal(shape)
    out, cache = batchnorm_forward(x, gamma, beta, BatchNormState.create(C), train=True, mode=mode,
                                   eps=eps)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    t_out = _torch_variant(tx, tg, tb, mode, eps)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, t_out.detach().numpy(), **TOL)
    for ours, theirs in [(dx, tx), (dgamma, tg), (dbeta, tb)]:
        np.testing.assert_allclose(ours, theirs.grad.numpy(), **TOL)


def test_single_value_per_channel_is_an_error_in_both():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batchnorm_forward(np.ones((1, 3)), np.ones(3), np.zeros(3), BatchNormState.create(3),
                          train=True)
    with pytest.raises(ValueError):
        torch.nn.BatchNorm1d(3, dtype=torch.float64)(torch.ones(1, 3, dtype=torch.float64))


def test_maxpool_tie_rule_matches_torch():
    # Our documented rule (ties: the first maximum in row-major order) is PyTorch's CPU rule too.
    x = np.array([[[[2.0, 2.0, 1.0, 5.0], [2.0, 0.0, 5.0, 5.0]]]])
    dout = np.array([[[[1.5, -2.0]]]])
    _, cache = maxpool2d_forward(x, 2)
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, 2).backward(torch.tensor(dout))
    np.testing.assert_array_equal(maxpool2d_backward(dout, cache), tx.grad.numpy())
