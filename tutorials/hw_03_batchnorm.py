# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Homework 3 — BatchNorm from scratch, with manual backprop
#
# For one channel with $M$ values $x_1, \dots, x_M$ in the batch (over $N$, or over $N, H, W$
# for images), training-mode BatchNorm computes
#
# $$
# m = \frac1M \sum_i x_i, \quad v = \frac1M \sum_i (x_i - m)^2, \quad
# \sigma = \sqrt{v + \epsilon}, \quad \hat x_i = \frac{x_i - m}{\sigma}, \quad
# y_i = \gamma \hat x_i + \beta,
# $$
#
# and updates the running statistics used in evaluation mode (PyTorch's convention, momentum
# $\alpha = 0.1$): $\bar m \leftarrow (1-\alpha)\bar m + \alpha m$ and
# $\bar v \leftarrow (1-\alpha)\bar v + \alpha \frac{M}{M-1} v$ — the running variance takes the
# **unbiased** batch variance, while the normalisation uses the biased one. In evaluation mode
# $y = \gamma (x - \bar m)/\sqrt{\bar v + \epsilon} + \beta$ and nothing is updated.
#
# Backward, with $g_i = \partial L / \partial y_i$ and bars denoting means over the channel's
# $M$ values:
#
# $$
# \frac{\partial L}{\partial x_i} = \frac{\gamma}{\sigma}\Big[g_i - \overline{g}
#   - \hat x_i\, \overline{g \hat x}\Big], \qquad
# \frac{\partial L}{\partial \gamma} = \sum_i g_i \hat x_i, \qquad
# \frac{\partial L}{\partial \beta} = \sum_i g_i .
# $$
#
# The mean term $\overline{g}$ comes from $m$ depending on every $x_i$, the last term from
# $\sigma$ doing so. Your functions have the library's signatures, so `use(...)` can put them
# inside a real network at the end.

# %% tags=["parameters"]
STEPS = 30  # test: 6
SEED = 0

# %%
from collections import namedtuple

import matplotlib.pyplot as plt
import numpy as np

from lmsbn.bridge import ModeTracker
from lmsbn.data import shapes
from lmsbn.homework import check_batchnorm_backward, check_batchnorm_forward, use
from lmsbn.nn import small_cnn
from lmsbn.train import train

# The cache your forward pass returns. Its field names are those of the library's cache, so your
# backward also works on the library's forward pass, and the mode tracker can read yours.
BNCache = namedtuple("BNCache", ["xhat", "sigma", "gamma"])

# %% [markdown] question="batchnorm_forward" points=5
# ## Exercise 1 — the forward pass
#
# `state.running_mean` and `state.running_var` are arrays of shape $(C,)$: update them in place
# when `train` is true. Only `mode="full"` (standard BatchNorm) is asked for.

# %%
def batchnorm_forward(x, gamma, beta, state, *, train, momentum=0.1, eps=1e-5, mode="full"):
    """BatchNorm of x (N, C) or (N, C, H, W); returns (out, BNCache)."""
    if mode != "full":
        raise ValueError(f"only mode='full' is implemented here, got {mode!r}")
    axes = (0,) + tuple(range(2, x.ndim))          # every axis except the channel axis 1
    shape = (1, -1) + (1,) * (x.ndim - 2)          # a (C,) vector as a broadcastable view
    # BEGIN SOLUTION
    if train:
        M = x.size // x.shape[1]
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)                     # biased: it normalises this batch
        state.running_mean[...] = (1 - momentum) * state.running_mean + momentum * mean
        state.running_var[...] = ((1 - momentum) * state.running_var
                                  + momentum * var * M / (M - 1))
    else:
        mean, var = state.running_mean, state.running_var
    sigma = np.sqrt(var + eps)
    xhat = (x - mean.reshape(shape)) / sigma.reshape(shape)
    out = gamma.reshape(shape) * xhat + beta.reshape(shape)
    # END SOLUTION
    return out, BNCache(xhat, sigma, gamma)


# %%
print(check_batchnorm_forward(batchnorm_forward))
# BEGIN HIDDEN TESTS
print(check_batchnorm_forward(batchnorm_forward, hidden=True))
# END HIDDEN TESTS

# %% [markdown] question="batchnorm_backward" points=5
# ## Exercise 2 — the backward pass
#
# `batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)` for a training-mode forward pass.
# The check uses a **random** upstream gradient: with `dout` all ones the true `dx` is exactly
# zero, and a backward that forgot the $\hat x\,\overline{g\hat x}$ term (or returned zeros)
# would pass.

# %%
def batchnorm_backward(dout, cache):
    """Gradients of training-mode BatchNorm; dout has the shape of x."""
    xhat, sigma, gamma = cache.xhat, cache.sigma, cache.gamma
    axes = (0,) + tuple(range(2, xhat.ndim))
    shape = (1, -1) + (1,) * (xhat.ndim - 2)
    # BEGIN SOLUTION
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    g = dout * gamma.reshape(shape)                # gradient with respect to xhat
    g_mean = g.mean(axis=axes, keepdims=True)
    gx_mean = (g * xhat).mean(axis=axes, keepdims=True)
    dx = (g - g_mean - xhat * gx_mean) / sigma.reshape(shape)
    # END SOLUTION
    return dx, dgamma, dbeta


# %%
print(check_batchnorm_backward(batchnorm_backward, batchnorm_forward))
# BEGIN HIDDEN TESTS
print(check_batchnorm_backward(batchnorm_backward, batchnorm_forward, hidden=True))
print(check_batchnorm_backward(batchnorm_backward))   # also on the library's cache
# END HIDDEN TESTS

# %% [markdown]
# ## Your BatchNorm inside a network
#
# Every `BatchNorm2d` of the model now runs your two functions, and so does everything that
# watches the training: the `ModeTracker` below reads `cache.sigma` of your cache (and
# `lmsbn.bridge.compare_first_step` also `cache.xhat`) to compare BatchNorm's effective step
# $\mu\gamma^2/\sigma^2$ with the NLMS step of the
# same layer. With the same seed the loss curve, and the tracker's record, must match the
# library's to round-off.

# %%
X, y = shapes(512, rng=SEED)
runs, trackers = {}, {}
for who in ("library", "yours"):
    model = small_cnn(norm="full", widths=(8, 16), rng=SEED)
    trackers[who] = ModeTracker(every=5, rng=SEED)
    settings = dict(steps=STEPS, batch_size=32, lr=0.1, rng=SEED, callbacks=[trackers[who]])
    if who == "yours":
        with use(batchnorm_forward=batchnorm_forward, batchnorm_backward=batchnorm_backward):
            runs[who] = train(model, X, y, **settings)
    else:
        runs[who] = train(model, X, y, **settings)
gap = np.max(np.abs(runs["yours"].loss - runs["library"].loss))
print(f"largest loss difference over {STEPS} steps: {gap:.2e}")
assert gap < 1e-8, "your BatchNorm trains differently from the library's"

conv1 = trackers["yours"].record["conv1"]
assert np.allclose(conv1.bn["ratio"], trackers["library"].record["conv1"].bn["ratio"])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.plot(runs["library"].loss, lw=3, alpha=0.5, label="library BatchNorm")
ax1.plot(runs["yours"].loss, "--", label="your BatchNorm")
ax1.set_xlabel("SGD step")
ax1.set_ylabel("minibatch cross-entropy")
ax1.set_title("small_cnn trained with your BatchNorm")
ax1.legend()
ax2.plot(conv1.steps, conv1.bn["ratio"], lw=0.8)
ax2.set_xlabel("SGD step")
ax2.set_ylabel("BatchNorm step / NLMS step")
ax2.set_title("conv1, one line per filter (your BatchNorm)")

# %% [markdown] question="sum_of_dx" points=2 manual=true
# ## Question
#
# Show from the backward formula that $\sum_i \partial L / \partial x_i = 0$ for every channel,
# and say what this means for a gradient check that uses `dout = np.ones_like(x)`.
#
# <!-- BEGIN SOLUTION -->
# Summing the bracket over $i$ gives $M\overline{g} - M\overline{g} - \overline{g\hat x}
# \sum_i \hat x_i = 0$, because $\sum_i \hat x_i = 0$. With $g_i = \gamma$ for all $i$ (dout of
# ones) the bracket is $\gamma - \gamma - \hat x_i \gamma\, \overline{\hat x} = 0$ for every
# $i$, so the true $\partial L/\partial x$ is exactly zero. A check with `dout` of ones then
# only tests that `dx` is zero: a backward that returns `np.zeros_like(x)` passes, and the
# weight of each term of the formula is never tested. A random `dout` tests all of them.
# <!-- END SOLUTION -->
