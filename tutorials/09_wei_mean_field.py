# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tutorial 9 — The Fisher information and the largest learning rate
# (Wei, Stokes, Schwab 2019)
#
# **Why this lesson.** For LMS the largest stable step is $2/\lambda_{max}(R)$. For a network with
# outputs $f_\theta(x)$ and a squared-error loss, the role of $R$ is played by the Fisher
# information of a Gaussian output model,
#
# $$ I(\theta) = \frac1N\sum_n J_n^\top J_n, \qquad J_n = \frac{\partial f_\theta(x_n)}{\partial\theta}, $$
#
# and gradient descent with momentum $m$ is stable for $\eta < \eta^* = 2(1+m)/\lambda_{max}(I)$.
# Wei et al. show with mean-field theory that BatchNorm *lowers* $\lambda_{max}$ when its scale
# $\gamma$ is small, so it allows larger steps, and that smaller $\gamma$ trains to lower loss.
#
# We never form $I$. Power iteration needs only products $I v = \frac1N\sum_n J_n^\top (J_n v)$:
# $J_n v$ is a central finite difference of the forward pass along $v$, and $J^\top u$ is one
# backward pass with `dout = u`.

# %% tags=["parameters"]
width = 64          # hidden width of the MLP
depth = 3           # weight layers
batch = 32
gammas = (0.5, 1.0, 2.0, 4.0)
sweep_steps = 20
sweep_lrs = 6
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn.experiments import wei
from lmsbn.nn import BatchNorm1d, Linear, ReLU, Sequential
from lmsbn.plot import plot_gamma_lr_map

# %% [markdown]
# ## 1. Power iteration against the explicit Fisher matrix
# On a tiny net we can build $J$ row by row with backward passes and call `eigvalsh`.

# %%
rng = np.random.default_rng(seed)
tiny = Sequential(Linear(4, 6, rng=1), ReLU(), Linear(6, 3, rng=2))
x_tiny = rng.standard_normal((10, 4))
exact = np.linalg.eigvalsh(wei.fim_explicit(tiny, x_tiny))[-1]
est = wei.fim_lambda_max(tiny, x_tiny, iters=500, tol=1e-12, rng=seed)
print(f"explicit {exact:.10f}   power iteration {est.lambda_max:.10f}")


# %% [markdown]
# ## 2. BatchNorm's gamma and $\lambda_{max}$: measurement and mean field
# A wide MLP on Gaussian inputs, with and without BN. The mean-field estimate
# (`mean_field_lambda_max`) predicts $\lambda_{max} \approx N\gamma^2/2\pi$ with BN. Why so
# simple? The sharpest direction moves every example's output the same way (the batch mean of
# the Jacobians). BatchNorm's backward pass projects the batch mean out of the gradient, so only
# the parameters after the last BN (the output layer, through the ReLU means
# $E[\mathrm{ReLU}(\gamma z)]^2 = \gamma^2/2\pi$) can move all outputs together. Without BN
# every layer adds to that direction.

# %%
def mlp(gamma):
    layers = []
    for l in range(depth - 1):
        layers.append(Linear(width, width, rng=l, bias=gamma is None))
        if gamma is not None:
            layers.append(BatchNorm1d(width, gamma=gamma))
        layers.append(ReLU())
    return Sequential(*layers, Linear(width, 1, rng=99))


x = rng.standard_normal((batch, width))
rows = []
for g in (None, *gammas):
    measured = wei.fim_lambda_max(mlp(g), x, iters=40, tol=1e-5, rng=seed).lambda_max
    theory = wei.mean_field_lambda_max(depth, width, gamma=g, sigma_b2=0.0, batch_size=batch)
    rows.append((g, measured, theory))
    print(f"gamma={g}: measured {measured:8.2f}  mean field {theory:8.2f}  "
          f"eta* {wei.max_learning_rate(measured):.4f}")

# %% [markdown]
# ## 3. A learning-rate x gamma sweep on the CNN
# The stars are the predicted $\eta^*$ (from $\lambda_{max}$ at initialisation); blank cells diverged.
# In the printed verdict, the "same lr" line is lmsbn's test of the abstract's statement that
# smaller $\gamma$ reaches lower loss after the same number of epochs (equal learning rate, equal
# budget); the "best loss" line lets each $\gamma$ use its
# own best rate, which mixes in how large a rate each one allows.

# %%
sweep = wei.gamma_lr_sweep(gammas=gammas[:3], lrs=np.logspace(-1.5, 1.5, sweep_lrs),
                           steps=sweep_steps, n=128, fim_iters=10, rng=seed)
print(sweep.summary())
plot_gamma_lr_map(sweep)
plt.show()

# %% [markdown]
# ## Exercises
# 1. Why does the power iteration's estimate never exceed the explicit $\lambda_{max}$ (up to
#    rounding)?
# 2. Double `width`. How do the measured and the mean-field $\lambda_{max}$ with BN change?
# 3. In the sweep, the plain CNN usually survives learning rates far above its predicted $\eta^*$.
#    Look at `lmsbn.train` histories for such a run: what happens to the loss and to
#    $\lambda_{max}$ after the first steps?
#
# <details><summary>Answers</summary>
#
# 1. It returns a Rayleigh quotient $v^\top I v / v^\top v$, which lies between the smallest and
#    the largest eigenvalue of the symmetric matrix $I$.
# 2. Both roughly double: with BN the output layer's term $N\gamma^2/2\pi$ dominates.
# 3. The first large steps overshoot along the sharpest direction and shrink the weights that
#    carry it (ReLU units die, outputs shrink); $\lambda_{max}$ falls by orders of magnitude and
#    training continues at the new, flatter point. The $2/\lambda_{max}$ bound is a statement about
#    the initial quadratic model only (compare the "catapult" phase of Lewkowycz et al. 2020).
# </details>
