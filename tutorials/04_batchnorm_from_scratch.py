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
# # Tutorial 4 — BatchNorm from scratch, with manual backprop and gradient checks
#
# **Motivation.** To ask *why* BatchNorm helps, we must be able to change what it does — centre
# only, rescale only, boost weak channels only — and still train by exact backpropagation. That
# means writing its backward pass by hand and being sure it is right. In this tutorial you will
#
# 1. write BatchNorm's forward and backward passes in a few lines of NumPy;
# 2. check the backward pass against numerical derivatives — with a **random** upstream
#    gradient, and see why an upstream gradient of ones is a trap;
# 3. meet the six variants the rest of the course uses to separate BatchNorm's effects.

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn.nn import functional as F
from lmsbn.nn.gradcheck import GradientCheckError, check_backward, numerical_gradient

# %% tags=["parameters"]
N = 64  # test: 16
SCALES = (0.2, 0.5, 2.0, 5.0)
MEANS = (1.0, -2.0, 3.0, 0.5)
SEED = 0

# %% [markdown]
# ## 1. Forward
#
# For an input $x$ of shape $(N, C)$ (for images, $(N, C, H, W)$ with the statistics taken over
# $N, H, W$), per channel $c$ over its $M$ values:
#
# $$
# m = \frac1M \sum_i x_i, \quad v = \frac1M \sum_i (x_i - m)^2, \quad
# \sigma = \sqrt{v + \epsilon}, \quad \hat x_i = \frac{x_i - m}{\sigma}, \quad
# y_i = \gamma \hat x_i + \beta .
# $$
#
# Note the *biased* variance (divide by $M$) in the normalisation and $\epsilon$ inside the
# square root, as in PyTorch.

# %%
rng = np.random.default_rng(SEED)
X = np.array(MEANS) + np.array(SCALES) * rng.normal(size=(N, len(SCALES)))
gamma, beta = rng.uniform(0.5, 2.0, size=len(SCALES)), rng.normal(size=len(SCALES))


def bn_forward(x, gamma, beta, eps=1e-5):
    """BatchNorm over the rows of x (N, C), training mode. Returns (out, cache)."""
    m = x.mean(axis=0)
    v = x.var(axis=0)                     # biased: divides by N
    sigma = np.sqrt(v + eps)
    xhat = (x - m) / sigma
    return gamma * xhat + beta, (xhat, sigma, gamma)


out, _ = bn_forward(X, gamma, beta)
ref, _ = F.batchnorm_forward(X, gamma, beta, F.BatchNormState.create(len(SCALES)), train=True)
print("our forward == lmsbn's:", np.allclose(out, ref))
print("per-channel mean of the output:", np.round(out.mean(0), 6), " (= beta)")
print("per-channel std of the output: ", np.round(out.std(0), 6), " (= gamma, up to eps)")

# %% [markdown]
# ## 2. Backward
#
# With $g = \partial\mathcal{L}/\partial y$, the parameter gradients are
# $\partial\mathcal{L}/\partial\gamma = \sum_i g_i \hat x_i$ and
# $\partial\mathcal{L}/\partial\beta = \sum_i g_i$. For the input, $m$ and $\sigma$ depend on
# *every* $x_i$ of the channel, and the chain rule collapses to
#
# $$
# \frac{\partial\mathcal{L}}{\partial x_i} = \frac{\gamma}{\sigma}
# \left( g_i - \overline{g} - \hat x_i\, \overline{g\, \hat x} \right),
# $$
#
# where the bars are means over the channel. The two subtracted terms project $g$ away from the
# directions $\mathbf{1}$ and $\hat x$: a shift or a rescaling of the channel changes nothing
# after normalisation, so the gradient has no component along them.

# %%
def bn_backward(dout, cache):
    """Gradients (dx, dgamma, dbeta) of bn_forward."""
    xhat, sigma, gamma = cache
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dx = gamma / sigma * (dout - dout.mean(axis=0) - xhat * np.mean(dout * xhat, axis=0))
    return dx, dgamma, dbeta


# scaled=True measures the error against the largest gradient entry: an entry of dx that cancels
# to nearly zero keeps only finite-difference round-off, which an elementwise ratio would inflate.
# rng=SEED + 1: with SEED itself the "random" upstream gradient would repeat the very draws that
# built X, i.e. equal the normalised input, a degenerate case as blind as ones.
errors = check_backward(bn_forward, bn_backward, [X, gamma, beta], names=["x", "gamma", "beta"],
                        scaled=True, rng=SEED + 1)
print("gradient check (random upstream gradient), relative errors:",
      {k: f"{v:.1e}" for k, v in errors.items()})

# %% [markdown]
# ## 3. The trap: checking with an upstream gradient of ones
#
# Many tutorials check a layer by differentiating `out.sum()`, i.e. with $g = \mathbf{1}$. For
# BatchNorm that is useless: $\overline{g} = 1$ and $\overline{g\hat x} = 0$, so the true
# $\partial\mathcal{L}/\partial x$ is **exactly zero** — and so is the gradient of many wrong
# backward passes. Here is one that forgets the $\hat x$ term:

# %%
def bn_backward_wrong(dout, cache):
    xhat, sigma, gamma = cache
    dx = gamma / sigma * (dout - dout.mean(axis=0))           # the xhat term is missing
    return dx, np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)


def f(x):
    return bn_forward(x, gamma, beta)[0]


_, cache = bn_forward(X, gamma, beta)
for name, dout in (("ones", np.ones_like(X)), ("random", rng.normal(size=X.shape))):
    numeric = numerical_gradient(f, X, dout)
    wrong, right = bn_backward_wrong(dout, cache)[0], bn_backward(dout, cache)[0]
    print(f"upstream {name:>6}: largest |numerical dx| = {np.max(np.abs(numeric)):.1e}; "
          f"largest |wrong - numerical| = {np.max(np.abs(wrong - numeric)):.1e}; "
          f"largest |right - numerical| = {np.max(np.abs(right - numeric)):.1e}")
try:
    check_backward(bn_forward, bn_backward_wrong, [X, gamma, beta], scaled=True, rng=SEED + 1)
except GradientCheckError as err:
    print("\ncheck_backward catches it:\n", err)

# %% [markdown]
# With ones, the true gradient is zero up to finite-difference round-off, and the wrong backward
# is just as close to it as the right one: no check can tell them apart. With a random upstream
# gradient the wrong one is off by the forgotten term, a few per cent of the gradient in the
# printout above: far above round-off, so it fails loudly.
# `lmsbn.nn.gradcheck.check_backward` always draws a random one.
#
# ## 4. The six modes
#
# Every variant is one per-channel map $y = \gamma (x - \mu_c)/s_c + \beta$; they differ in the
# centre $\mu_c$ and the divisor $s_c$. The last two are lmsbn's own design of the experiment
# Chai, Pilanci and Murmann (2020) describe in their abstract; both are relative to the layer's
# own reference scale $\sigma_{ref}$, the median over its channels of the batch $\sigma_c$:
#
# | mode | centre $\mu_c$ | divisor $s_c$ | effect on the next layer's eigenvalues |
# |---|---|---|---|
# | `full` | batch mean | $\sigma_c$ | standard BatchNorm |
# | `center` | batch mean | $1$ | removes the mean spike only |
# | `scale` | $0$ | uncentred RMS | equalises power, keeps the mean |
# | `amplify` | batch mean | $\min(\sigma_c, \sigma_{ref})/\sigma_{ref}$ | raises the small ones |
# | `suppress` | batch mean | $\max(\sigma_c, \sigma_{ref})/\sigma_{ref}$ | lowers the large ones |
# | `frozen` | first batch's | first batch's $\sigma_c$ | a constant rescale |
#
# `amplify` raises the channels weaker than the reference to it, which raises the small
# eigenvalues; `suppress` lowers the channels stronger than the reference to it, which lowers the
# large ones.
#
# Each has an exact backward pass (the same formula with the terms of the statistics that do
# not depend on the batch switched off; for `amplify`/`suppress` one more term, through the
# median, which is a batch statistic too). Gradient-check all six, and look at what each does to
# channels of standard deviation 0.2, 0.5, 2 and 5:

# %%
modes = F.BN_MODES
stds = {}
for mode in modes:
    state = F.BatchNormState.create(len(SCALES))
    F.batchnorm_forward(X, gamma, beta, state, train=True, mode=mode)   # frozen: fixes stats
    x_new = np.array(MEANS) + np.array(SCALES) * rng.normal(size=X.shape)

    def forward(x, g, b, state=state, mode=mode):
        return F.batchnorm_forward(x, g, b, state, train=True, mode=mode)

    err = check_backward(forward, F.batchnorm_backward, [x_new, gamma, beta], scaled=True,
                         rng=SEED + 1)
    out, _ = F.batchnorm_forward(x_new, np.ones(len(SCALES)), np.zeros(len(SCALES)), state,
                                 train=True, mode=mode)
    stds[mode] = out.std(axis=0)
    print(f"{mode:>8}: worst gradient rel. error {max(err.values()):.1e}; output std per channel "
          f"{np.array2string(stds[mode], precision=2)}")

fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
width = 0.8 / len(modes)
for j, mode in enumerate(modes):
    ax.bar(np.arange(len(SCALES)) + (j - len(modes) / 2 + 0.5) * width, stds[mode], width,
           label=mode)
ax.set_xticks(range(len(SCALES)), [f"input std {s}" for s in SCALES])
ax.set(yscale="log", ylabel="output std (gamma = 1)", title="What each BatchNorm mode does")
ax.legend(ncol=3, fontsize=8)
plt.show()

# %% [markdown]
# `full` brings every channel to unit standard deviation; `scale` brings the *uncentred* RMS to
# one, so a channel with a large mean keeps a small spread; `center` leaves the sizes alone;
# `amplify` lifts only the channels below the median spread to it and `suppress` shrinks only
# those above it (scale every input by 10 and the same channels are touched); `frozen`
# applies the first batch's statistics, so it also equalises — but as a constant, not per step.
#
# ## Exercises
#
# **1.** Show that $\sum_i \partial\mathcal{L}/\partial x_i = 0$ and
# $\sum_i \hat x_i\, \partial\mathcal{L}/\partial x_i = 0$ for `full` mode, whatever $g$.
# Verify numerically with `bn_backward`.
#
# <details><summary>Answer</summary>
#
# $\sum_i (g_i - \overline g - \hat x_i \overline{g\hat x}) = M\overline g - M \overline g -
# \overline{g\hat x}\sum_i \hat x_i = 0$ because $\sum_i \hat x_i = 0$; and
# $\sum_i \hat x_i (\dots) = M\overline{g\hat x} - 0 - \overline{g\hat x}\sum_i \hat x_i^2 = 0$
# because $\sum_i \hat x_i^2 = M$ (up to $\epsilon$). Check with
# `dx.sum(0)` (about 1e-15) and `(dx * xhat).sum(0)`: with $\epsilon > 0$,
# $\sum_i \hat x_i^2 = M\sigma^2/(\sigma^2 + \epsilon)$, so it is of order $\epsilon/\sigma^2$
# (about 5e-4 for the channel with $\sigma = 0.2$), and about 1e-15 with `eps=0`.
# </details>
#
# **2.** Which *other* wrong backward passes would a ones-upstream check accept? Try
# `dx = 0` and `dx = gamma / sigma * (dout - xhat * mean(dout * xhat))`.
#
# <details><summary>Answer</summary>
#
# `dx = 0` passes (the true gradient is zero for ones). The second one does not: for ones it
# gives $\gamma/\sigma \ne 0$. A check must use an upstream gradient that excites every
# direction, which a random one does with probability one.
# </details>
#
# **3.** In `amplify` mode, what is the gradient through $s_c$ for a channel whose batch
# standard deviation is 2? And for one whose is 0.5?
#
# <details><summary>Answer</summary>
#
# It depends on the reference. With channel spreads 0.2, 0.5, 2 and 5 the reference is the
# median $(0.5 + 2)/2 = 1.25$. For $\sigma_c = 2$ the divisor is the constant 1 (the channel is
# stronger than the reference), so the direct term is the `center` formula, with no $\hat x$
# term. For $\sigma_c = 0.5$ the divisor is $\sigma_c/\sigma_{ref}$ and the BatchNorm formula
# applies, with the projection scaled by $1/\sigma_{ref}^2$ (this $\hat x$ has spread
# $\sigma_{ref}$). And because $\sigma_{ref}$ moves with the two middle channels (0.5 and 2),
# they receive one more term: the gradient of every boosted channel's dependence on the
# reference. The cache records the active channels in `sigma_from_batch` and the median's
# weights in `ref_weights`.
# </details>
