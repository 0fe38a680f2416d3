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
# # Tutorial 8 — Understanding BatchNorm (Bjorck, Gomes, Selman, Weinberger 2018)
#
# **Why this lesson.** The earlier lessons explained BatchNorm with adaptive-filter theory: it
# suppresses the largest eigenvalues of each layer's input autocorrelation, so a larger step
# stays stable. Bjorck et al. reach the same conclusion from another side:
#
# 1. at the *same small* learning rate, nets with and without BN train alike; BN's benefit is
#    that it tolerates a *larger* one;
# 2. without BN, one large step changes the activations by a factor that *compounds with depth*;
# 3. a product of random matrices becomes ill-conditioned exponentially fast in its length.
#
# For (3): if $M_l \sim N(0, 1/n)$ are i.i.d. $n\times n$, the log singular values of
# $M_L\cdots M_1$ grow like $L\lambda_k$ with the Lyapunov exponents
#
# $$\lambda_k = \tfrac12\Big[\ln 2 + \psi\big(\tfrac{n-k+1}{2}\big)\Big] - \tfrac12\ln n ,$$
#
# so $\ln\kappa(M_L\cdots M_1) \approx L(\lambda_1-\lambda_n)$: about $1.99$ per factor for
# $n = 16$. A deep plain net is such a product (with ReLU masks in between).

# %% tags=["parameters"]
depth = 12          # blocks of the deep plain CNN
steps = 60          # training steps per run of the same-lr comparison
n_images = 256      # procedural images for training
matrix_depth = 40   # factors in the random-matrix product
trials = 20
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn.experiments import bjorck
from lmsbn.plot import (plot_activation_growth, plot_condition_growth, plot_gradient_histograms,
                        plot_same_lr)

# %% [markdown]
# ## 1. Same learning rate
# Train `small_cnn` with and without BN at a small rate, then both at a large rate.

# %%
cmp = bjorck.same_lr_comparison(small_lr=0.02, large_lr=0.5, steps=steps, n=n_images, rng=seed)
print(cmp.summary())
plot_same_lr(cmp)

# %% [markdown]
# ## 2. One large step, applied a fraction $\alpha$ at a time
# We take the gradient $g$ at initialisation and look at the network with weights
# $\theta_0 - \alpha\,\eta\,g$ for $\alpha \in [0, 1]$, recording each block's activation variance
# relative to $\alpha = 0$. Note the log scale.

# %%
growth = bjorck.activation_growth(depth=depth, fractions=np.linspace(0, 1, 5), rng=seed)
print(growth.summary())
plot_activation_growth(growth)

# %% [markdown]
# ## 3. Gradients: heavy-tailed, and after a large step input-independent
# Kurtosis (0 for a Gaussian) measures heavy tails; "agreement" $|\sum_n g_n| / \sum_n |g_n|$ is
# 1 when every example pushes a weight the same way, and about $1/\sqrt{n}$ for independent
# signs. At initialisation He init keeps the plain net's activations at scale: the tails show,
# and the plain net's agreement is already above BN's (how far depends on the seed). After the
# large step of section 2 its outputs are dominated by a few exploded channels, and its gradients
# nearly stop depending on the input: compare the two printed means.

# %%
grads = bjorck.gradient_statistics(depth=depth, size=16, rng=seed)
print(grads.summary())
plot_gradient_histograms(grads, layer=-1)
after = bjorck.gradient_statistics(depth=depth, size=16, lr=10.0, rng=seed)
print(after.summary())
print("mean agreement (no BN, BN): at init", np.round(np.nanmean(grads.agreement, axis=1), 2),
      " after the step", np.round(np.nanmean(after.agreement, axis=1), 2))

# %% [markdown]
# ## 4. Products of random matrices
# We never form the product (its condition number passes $10^{16}$ within about twenty factors,
# the limit of float64); a QR
# re-orthonormalisation accumulates $\ln|R_{kk}|$ instead.

# %%
lam = bjorck.lyapunov_exponents(16)
print(f"lambda_1 - lambda_16 = {lam[0] - lam[-1]:.4f}")
prod = bjorck.random_matrix_products(16, matrix_depth, trials, rng=seed)
print(prod.summary())
plot_condition_growth(prod)
plt.show()

# %% [markdown]
# ## Exercises
# 1. Repeat section 2 with `lr=1.0`. What happens to the deep activations now, and is it still
#    "exponential in depth"?
# 2. Compute $\lambda_1 - \lambda_n$ for $n = 4, 16, 64, 256$. How does the gap grow with $n$?
# 3. In section 1, find (by trying) the smallest large learning rate at which the plain net stops
#    improving. Relate it to the stability bound $\mu < 2/\lambda_{max}$ of lesson 1.
#
# <details><summary>Answers</summary>
#
# 1. The activations *shrink* with depth instead: a moderate step already changes every layer's
#    gain, and gains below one also compound, so the change is still exponential in depth, only
#    downward. BN removes both effects.
# 2. Using $\psi(x) \approx \ln x$ for large $x$: $\lambda_1 - \lambda_n \approx \tfrac12[\ln(n/2) -
#    \psi(1/2)] = \tfrac12\ln n + $ const, i.e. it grows like $\tfrac12 \ln n$: 1.19, 1.99, 2.71,
#    3.41 for n = 4, 16, 64, 256.
# 3. It depends on the seed; around 1-2 with the defaults here. Past it the largest mode of
#    some layer has $|1 - \mu\lambda_{max}| > 1$, exactly the LMS instability.
# </details>
