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
# # Tutorial 5 — The eigenvalues of each layer, with and without BatchNorm
#
# **Motivation.** Tutorial 3 showed that every conv layer is an adaptive filter whose regressors
# are its im2col patches, so each layer has its own input autocorrelation $R$ — and, by
# tutorial 1, its own stability bound $2/\lambda_{max}$ and its own slowest mode
# $\sim 1/(\mu\lambda_{min})$. The layers *share one learning rate*. So the question "why does
# BatchNorm help?" becomes concrete: **what does BatchNorm do to the eigenvalues of the $R$ of
# the layer after it?** Here you measure it on the library's small CNN.

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn import bridge, spectral
from lmsbn.data import shapes
from lmsbn.nn import small_cnn
from lmsbn.plot import plot_channel_blocks, plot_spectra

# %% tags=["parameters"]
N_IMAGES = 256  # test: 48
SCALE = 10.0
SEED = 0

# %% [markdown]
# ## 1. What to expect
#
# For a conv layer with $C_{in}$ input channels and a $k_h \times k_w$ kernel,
# $R = U^T U / M$ is $K \times K$ with $K = C_{in} k_h k_w$, and
#
# $$
# \lambda_{max} \le \operatorname{tr} R = \sum_{c=1}^{C_{in}} \operatorname{tr} R_{cc}
# \approx k_h k_w \sum_c E[x_c^2].
# $$
#
# * If the previous layer is normalised (zero mean, unit variance per channel before the ReLU),
#   every channel power is about the same constant, so $\operatorname{tr} R$ and hence
#   $\lambda_{max}$ are **bounded**, whatever the weights before it. Without normalisation they
#   grow with the weights and with the input scale.
# * Equalising channel powers lifts the **smallest** eigenvalues, which belong to the weak
#   channels.
# * Post-ReLU inputs have a positive mean $m$, so $R = C + m m^T$ carries a rank-one
#   **mean spike**: $\lambda_{max}$ is inflated by about $\|m\|^2$.
#
# Two networks with the *same* conv weights (the seed fixes them), one without and one with
# BatchNorm after each conv:

# %%
X, y = shapes(N_IMAGES, rng=SEED)
models = {norm: small_cnn(norm=norm, rng=SEED) for norm in ("none", "full")}
models["full"].summary((3, 16, 16))
spectra = {norm: bridge.layer_spectra(m, X, rng=SEED) for norm, m in models.items()}

print(f"\n{'layer':<6} {'K':>4} | {'lambda_max':>21} | {'lambda_min':>21} | {'spread':>19}")
pair = f"{'no BN':>10} {'BN':>10}"
print(f"{'':<6} {'':>4} | {pair} | {pair} | {'no BN':>9} {'BN':>9}")
for name in spectra["none"]:
    a, b = spectra["none"][name], spectra["full"][name]
    print(f"{name:<6} {a.K:>4} | {a.lambda_max:>10.3g} {b.lambda_max:>10.3g} | "
          f"{a.lambda_min:>10.3g} {b.lambda_min:>10.3g} | {a.spread:>9.3g} {b.spread:>9.3g}")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
for ax, name in zip(axes, ("conv2", "conv3", "fc1")):
    # The labels "none" and "full" pick the library's colours for them (black and blue), the
    # same as in every other figure of the course.
    plot_spectra({"none": spectra["none"][name], "full": spectra["full"][name]}, ax=ax,
                 normalize=False)
    ax.set_title(f"{name}: eigenvalues of R")
plt.show()

# %% [markdown]
# `conv1` sees the raw images, which no BatchNorm precedes, so its row is identical in both
# networks. From `conv2` on, read the table: BatchNorm lowers $\lambda_{max}$ and changes the
# smallest eigenvalues; the printed spreads say by how much on this data. (An eigenvalue of 0
# means a direction the inputs never excite — e.g. a channel that the ReLU zeroes everywhere.)
#
# ## 2. Channel blocks
#
# The diagonal of the block-trace map is the power of each input channel times $k_h k_w$.
# Without BatchNorm those powers follow whatever the previous filters happen to amplify; with it
# they are all close to the same value.

# %%
name, layer = "conv2", models["none"]["conv2"]
fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
for ax, norm in zip(axes, ("none", "full")):
    spec = spectra[norm][name]
    plot_channel_blocks(spec, layer.in_channels, layer.kernel_shape, ax=ax)
    powers = spectral.channel_blocks(spec.R, layer.in_channels, layer.kernel_shape).powers
    ax.set_title(f"{name} block traces, {'BN' if norm == 'full' else 'no BN'}")
    print(f"{norm:>4}: channel powers x kh kw range from {powers.min():.3g} to {powers.max():.3g} "
          f"(ratio {powers.max() / max(powers.min(), 1e-300):.3g}); tr R = {spec.trace:.3g}")
plt.show()

# %% [markdown]
# ## 3. The mean spike
#
# The inputs of `conv2` come out of a ReLU, so every entry is $\ge 0$ and the mean regressor
# $m = E[u]$ is far from zero. Compare $R$ with the covariance $C = R - m m^T$
# (`center=True`), and check that the top eigenvector of $R$ points along $m$:

# %%
for norm, model in models.items():
    U = bridge.capture_regressors(model, X, rng=SEED, layers=["conv2"])["conv2"]
    R_spec = spectral.Spectrum.from_regressors(U)
    C_spec = spectral.Spectrum.from_regressors(U, center=True)
    m = U.mean(axis=0)
    cosine = abs(R_spec.eigenvectors[:, 0] @ m) / np.linalg.norm(m)
    print(f"{norm:>4}: lambda_max(R) = {R_spec.lambda_max:8.3g}, lambda_max(C) = "
          f"{C_spec.lambda_max:8.3g}, ||m||^2 = {m @ m:8.3g}, |cos(q_1, m)| = {cosine:.3f}")

# %% [markdown]
# $\lambda_{max}(R) \approx \lambda_{max}(C) + \|m\|^2$ when the top eigenvector is nearly
# the mean direction (cosine near 1). BatchNorm normalises *before* the ReLU, so it cannot remove
# the post-ReLU mean — but it fixes its size relative to the variance, so the spike no longer
# grows with the weights. The `center` mode of tutorial 6 isolates this effect.
#
# ## 4. The scale test
#
# Multiply the input images by `SCALE`. Without BatchNorm (and with zero biases, as at
# initialisation) every layer is positively homogeneous, so every later $R$ grows by exactly
# `SCALE`$^2$: a learning rate that was stable is suddenly far past $2/\lambda_{max}$. With
# BatchNorm only `conv1` — which sees the images directly — changes.

# %%
print(f"lambda_max(input x {SCALE:g}) / lambda_max(input x 1):")
for norm, model in models.items():
    scaled = bridge.layer_spectra(model, SCALE * X, rng=SEED)
    ratios = {n: scaled[n].lambda_max / spectra[norm][n].lambda_max for n in scaled}
    print(f"  {'BN   ' if norm == 'full' else 'no BN'}: " +
          ", ".join(f"{n} {r:.4g}" for n, r in ratios.items()))

# %% [markdown]
# This is the network version of tutorial 2's experiment: NLMS made a filter immune to the input
# power; BatchNorm makes every layer after the first immune to the power of its input.
#
# ## Exercises
#
# **1.** Train both networks for 100 steps (`lmsbn.train.train(model, X, y, steps=100,
# lr=0.05, rng=0)`) and recompute the table. Which network's $\lambda_{max}$ moved more?
#
# <details><summary>Answer</summary>
#
# Without BatchNorm the eigenvalues of the deeper layers follow the growth or shrinkage of the
# weights before them, so they can move by large factors; with BatchNorm the channel powers stay
# pinned near $k_h k_w \gamma^2$ (plus the ReLU's effect), so $\operatorname{tr} R$ and
# $\lambda_{max}$ move much less. `lmsbn.experiments.chai.eigen_spectra` runs this comparison.
# </details>
#
# **2.** Build `small_cnn(norm="center")` and `small_cnn(norm="scale")` with the same seed and
# add them to the table. Which one removes the mean spike, and which one equalises the channel
# powers?
#
# <details><summary>Answer</summary>
#
# `center` subtracts the batch mean before the ReLU, which shrinks (but after the ReLU cannot
# cancel) the mean, and leaves the channel powers unequal. `scale` divides by the uncentred RMS:
# it equalises the channel powers but keeps the mean. Compare `lambda_max` of $R$ and of $C$ for
# each.
# </details>
#
# **3.** Why is the ratio in section 4 exactly `SCALE`$^2$ for every layer of the plain
# network, and why does it stop being exact after training?
#
# <details><summary>Answer</summary>
#
# Conv, ReLU, max-pool and average-pool are positively homogeneous and the biases start at
# zero, so every activation scales by `SCALE` and every $R$ by `SCALE`$^2$. Training makes the
# biases non-zero, and $W x + b$ is not homogeneous in $x$.
# </details>
