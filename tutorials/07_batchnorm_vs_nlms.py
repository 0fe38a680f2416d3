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
# # Tutorial 7 — BatchNorm versus NLMS: exact per filter, equal on average, then a drift
#
# **Motivation.** Tutorial 2's NLMS divides each step by the *input* power $\|u\|^2$, which
# made it immune to the scale of its input. Tutorial 5 found BatchNorm making each layer immune
# to the scale of *its* input. Is BatchNorm secretly NLMS? The precise answer has three parts,
# and this tutorial measures each:
#
# 1. **exactly, per filter**: BatchNorm's step is $\eta\gamma^2/\sigma^2$, which is the NLMS
#    step divided by a number $\rho$ you can compute for every filter;
# 2. **on average over the random initialisation**: $E[\rho] = 1$, so on the first step
#    BatchNorm's normaliser is NLMS's *on average*, each filter off by its own $\rho$ — within
#    a spread you can predict from the layer's input covariance;
# 3. **after the first step**: nothing holds $\rho$ near 1; how it drifts is measured, layer by
#    layer, and it need not go the same way in every layer.
#
# $\rho$, its spread and the drift thresholds are lmsbn's own devices for testing the claim of
# Chai, Pilanci and Murmann (2020), whose abstract states the BatchNorm–NLMS link; the
# derivations below are ours.

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn import bridge
from lmsbn.data import shapes
from lmsbn.experiments.chai import first_step
from lmsbn.nn import small_cnn
from lmsbn.plot import plot_bn_nlms_drift, plot_first_step

# %% tags=["parameters"]
N_TRAIN = 1000  # test: 128
BATCH = 64  # test: 32
TRAIN_BATCH = 32  # test: 16
PROBE_LR = 1e-4
LR = 0.1
STEPS = 100  # test: 6
EVERY = 10  # test: 2
N_SEEDS = 6  # test: 2
SEED = 0

# %% [markdown]
# ## 1. The algebra
#
# Take one filter $w$ ($K$ weights) of a conv layer followed by training-mode BatchNorm. With
# patches $U$ (rows $u_m$), centred patches $\tilde U$ and their covariance
# $C = \tilde U^T \tilde U / M$, the layer output $z = U w$ has variance
# $\sigma^2 = w^T C w + \epsilon$ and BatchNorm outputs
# $\hat z = \gamma (z - \bar z)/\sigma + \beta$. With $g = \partial\mathcal{L}/\partial\hat z$
# and $\hat x = (z - \bar z)/\sigma$:
#
# 1. $\displaystyle \frac{\partial\mathcal{L}}{\partial w} = \frac{\gamma}{\sigma}\, U^T
#    \left[g - \bar g - \hat x\, \overline{g \hat x}\right]$ (tutorial 4's backward, pulled
#    back through $z = Uw$);
# 2. **scale invariance**: $w^T\, \partial\mathcal{L}/\partial w = 0$, so SGD never shrinks
#    $\|w\|$;
# 3. an SGD step of size $\eta$ changes the normalised output, to first order, by
#    $\Delta\hat z \approx -\eta\, \frac{\gamma^2}{\sigma^2}\, (I - \hat x \hat x^T/M)\,
#    \tilde U \tilde U^T P g$: BatchNorm divides the step by the **output** power
#    $\sigma^2 = w^T C w$, where NLMS divides by the **input** power ($\operatorname{tr} C$ for
#    a block);
# 4. the two normalisers are linked by the Rayleigh-quotient ratio
#
# $$
# \rho = \frac{K\, w^T C w}{\|w\|^2 \operatorname{tr} C}, \qquad
# \frac{\eta\gamma^2}{\sigma^2} = \frac{1}{\rho}\cdot
# \frac{\tilde\mu}{\operatorname{tr} C}\quad\text{with}\quad
# \tilde\mu = \frac{\eta\, \gamma^2 K}{\|w\|^2}.
# $$
#
# This identity is **exact, for every filter**. For white inputs ($C \propto I$), $\rho = 1$
# for every $w$. Otherwise $\rho$ depends on the filter's direction, and only a statement
# **over the random initialisation** is possible. He initialisation draws $w \sim N(0, s^2 I)$,
# so $w/\|w\|$ is uniform on the sphere; in $C$'s eigenbasis
# $w^T C w/\|w\|^2 = \sum_k \lambda_k \beta_k$ with
# $\beta \sim \mathrm{Dirichlet}(\tfrac12, \dots, \tfrac12)$, whose moments
# ($E\beta_k = 1/K$, $\operatorname{Var}\beta_k = 2(K-1)/(K^2(K+2))$,
# $\operatorname{Cov}(\beta_j,\beta_k) = -2/(K^2(K+2))$) give
#
# $$
# E[\rho] = 1, \qquad
# \operatorname{Var}[\rho] = \frac{2}{K+2}\left(\frac{K \operatorname{tr} C^2}
# {(\operatorname{tr} C)^2} - 1\right)
# \quad (\texttt{bridge.rho\_spread}).
# $$
#
# So **BatchNorm's output-power normaliser $\sigma^2$ equals NLMS's input-power normaliser
# $\|w\|^2 \operatorname{tr} C / K$ on average over initialisations**, and its first step is the
# NLMS step with $\tilde\mu = \eta\gamma^2 K/\|w\|^2$ divided by a $\rho$ that is 1 on
# average; a given filter is off by its $\rho$, typically by $\sqrt{\operatorname{Var}\rho}$.
# That spread is small only when $C$'s power is spread over many eigenvalues
# ($K \operatorname{tr}C^2/(\operatorname{tr}C)^2$ near 1), not merely when $K$ is large. The
# BN/NLMS ratio is $1/\rho$: its mean is above 1 (Jensen), and its median is not 1 either,
# because the distribution of $\rho$ is skewed.

# %%
X, y = shapes(N_TRAIN, rng=SEED)
K = 144
C_white = np.eye(K)
w_random = np.random.default_rng(SEED).normal(size=(5, K))
print("rho for white input (should be exactly 1):", bridge.rho(w_random, C_white))
print("predicted spread of rho for white input:", bridge.rho_spread(C_white))

# %% [markdown]
# ## 2. The first step, measured
#
# `bridge.compare_first_step` runs one forward/backward pass of a BatchNorm network, takes the
# SGD step with a small learning rate, and for every filter of every conv+BN pair compares the
# *actual* change of BatchNorm's output with BatchNorm's own first-order prediction (fact 3,
# `bn_error`) and with the NLMS prediction (`nlms_error`). It leaves the model unchanged.

# %%
model = small_cnn(norm="full", rng=SEED)
report = bridge.compare_first_step(model, X[:BATCH], y[:BATCH], lr=PROBE_LR)
print(report.summary())
print()
for name, c in report.layers.items():
    print(f"{name}: rho over {c.rho.size} filters: median {np.median(c.rho):.3f}, "
          f"quartiles {np.percentile(c.rho, 25):.3f}..{np.percentile(c.rho, 75):.3f}; "
          f"largest |w . dL/dw| / (||w|| ||dL/dw||) = {c.scale_invariance.max():.1e}")

ax = plot_first_step(report)
plt.show()

# %% [markdown]
# Read the numbers:
#
# * `BN err` is tiny (of order $\eta$): fact 3 describes the actual step;
# * `NLMS err` is about $|1 - \rho|$: the NLMS description is right on average but each filter
#   is off by its own $\rho$. For a random direction $w$ the Rayleigh quotient concentrates
#   around the mean eigenvalue as $K$ grows *if* no few eigenvalues dominate $\operatorname{tr}
#   C$; a layer whose $C$ has a few huge eigenvalues (tutorial 5) keeps a wide spread of $\rho$
#   even for large $K$. Compare the quartiles of the three layers above;
# * the scale-invariance column is zero up to $\epsilon$: the gradient is orthogonal to $w$.
#
# The grey bars in the figure are $1 \pm \sqrt{\operatorname{Var}\rho}$, the spread the
# isotropic-initialisation theory predicts for each layer's $C$.
#
# ## 2b. Is the spread the predicted one?
#
# One network gives one draw of 16–32 filters per layer. Repeat over `N_SEEDS`
# initialisations (same batch) and standardise each filter:
# $z = (\rho - 1)/\sqrt{\operatorname{Var}\rho}$. If the theory is right, $z$ has mean 0 and
# mean square 1, up to the sampling error of the filters we have (computed from the sample).

# %%
z, sd_pairs = {}, []
for seed in range(N_SEEDS):
    rep = bridge.compare_first_step(small_cnn(norm="full", rng=seed), X[:BATCH], y[:BATCH],
                                    lr=PROBE_LR)
    for name, c in rep.layers.items():
        z.setdefault(name, []).append((c.rho - 1) / c.rho_sd)
        sd_pairs.append((name, c.rho_sd[0], c.rho.std()))
for name, parts in [*z.items(), ("pooled", sum(z.values(), []))]:
    v = np.concatenate(parts)
    print(f"{name:>6}: {v.size:4d} filters, mean z {v.mean():+.3f} "
          f"(SE {v.std() / np.sqrt(v.size):.3f}),"
          f" mean z^2 {np.mean(v**2):.3f} (SE {np.std(v**2) / np.sqrt(v.size):.3f}; theory 1)")

fig, ax = plt.subplots(figsize=(4.5, 3.8), layout="constrained")
for i, name in enumerate(z):
    pred, meas = np.array([(p, m) for n, p, m in sd_pairs if n == name]).T
    ax.scatter(pred, meas, label=name, color=f"C{i}")
top = max(max(p, m) for _, p, m in sd_pairs) * 1.1
ax.plot([0, top], [0, top], "k:", lw=1)
ax.set(xlabel=r"predicted sd of $\rho$ (isotropic init)", ylabel=r"measured sd over filters",
       title="one point per layer and seed")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Points scatter around the diagonal because each is the sd of only 16–32 filters; the pooled
# mean square of $z$ is the sharper test (the test suite asserts it within three standard
# errors, over six seeds).
#
# ## 3. The drift during training
#
# `lmsbn.experiments.chai.first_step` trains the BatchNorm network with a `ModeTracker`, which
# records for every conv+BN layer, every `EVERY` steps, the BatchNorm effective step
# $\eta\gamma^2/\sigma^2$, the NLMS step for the same layer and error, their ratio, $\rho$ and
# $\|w\|$ — per filter. Its verdict is written from those numbers.

# %%
res = first_step(X=X, y=y, lr=LR, steps=STEPS, every=EVERY, batch_size=TRAIN_BATCH,
                 widths=(16, 32, 32), rng=SEED)   # the widths of small_cnn() above
print(res.verdict())

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
plot_bn_nlms_drift(res, ax=axes[0])
for name, d in res.drift.items():
    # d[q] has one row per record and one column per filter.
    growth = d["w_norm"] / d["w_norm"][0]
    line, = axes[1].plot(res.steps[name], np.median(growth, axis=1), label=name)
    axes[1].fill_between(res.steps[name], np.percentile(growth, 25, axis=1),
                         np.percentile(growth, 75, axis=1), color=line.get_color(), alpha=0.2)
axes[1].set(xlabel="training step", ylabel=r"$\|w(t)\| / \|w(0)\|$",
            title="Growth of the filter norms (median, quartiles)")
axes[1].legend(fontsize=8)
plt.show()
directions = {name: res.drift_direction(name) for name in res.drift}
print("drift of median |ratio - 1| per layer:", directions)

# %% [markdown]
# The printed numbers are the measurement; compare them with the theory:
#
# * the ratio is $1/\rho$ (up to $\epsilon$) at every step, so the two curves mirror each other;
# * a natural guess is that $\rho$ drifts away from 1 as the filters turn towards the top
#   eigenvectors of $C$ (Rayleigh quotient above the mean eigenvalue). The `directions`
#   printed above are the measurement. With this notebook's parameters (seed 0, 1000
#   procedural images, lr 0.1, batch 32, 100 steps) they were *mixed*: conv3 moved closer to
#   NLMS (median $|\text{ratio} - 1|$ 0.27 → 0.16), conv1 and conv2 stayed about where they
#   started (0.23 → 0.17 and 0.19 → 0.15); no layer moved away. The guess is not what this
#   network does here; trust the printout of your own run;
# * $\|w\|$ never decreases (fact 2: the gradient is orthogonal to $w$, so each step adds
#   $\eta^2\|\nabla\|^2$ to $\|w\|^2$), which slowly lowers the effective
#   $\tilde\mu = \eta\gamma^2 K/\|w\|^2$ — an automatic learning-rate decay; in the run above
#   the medians moved by well under 1% (1.39 → 1.39 in conv1), so this decay is slow.
#
# ## Exercises
#
# Each answer is computed by the hidden cell after the exercise; try it yourself first.
#
# **1.** Verify fact 2 by hand for the first conv layer: after `compare_first_step`, read
# `model["conv1"].grads["weight"]` and compute `np.sum(w * dw, axis=(1, 2, 3))`.
#
# <details><summary>Answer</summary>
#
# `compare_first_step` leaves the gradients of its backward pass in the layers. The per-filter
# inner products, relative to $\|w\|\|\nabla\|$, are of order $\epsilon/\sigma^2$ — zero up
# to the $\epsilon$ inside BatchNorm's square root, exactly what `scale_invariance` reports. The
# cell below prints the largest one.
# </details>

# %% tags=["hide-input"]
model = small_cnn(norm="full", rng=SEED)
bridge.compare_first_step(model, X[:BATCH], y[:BATCH], lr=PROBE_LR)
w, dw = model["conv1"].params["weight"], model["conv1"].grads["weight"]
cos = np.sum(w * dw, axis=(1, 2, 3)) / (np.linalg.norm(w.reshape(len(w), -1), axis=1)
                                         * np.linalg.norm(dw.reshape(len(dw), -1), axis=1))
print(f"answer 1: largest |w . dw| / (||w|| ||dw||) over conv1's filters = {np.abs(cos).max():.1e}")

# %% [markdown]
# **2.** Increase `PROBE_LR` to 1e-1. What happens to `BN err`, and why?
#
# <details><summary>Answer</summary>
#
# It grows roughly in proportion to the learning rate: fact 3 is a first-order (linear)
# prediction, and the neglected terms are $O(\eta^2)$ relative to an $O(\eta)$ change. The
# cell below prints the median error at both learning rates and their ratio.
# </details>

# %% tags=["hide-input"]
errs = {lr: {n: np.median(c.bn_error) for n, c in bridge.compare_first_step(
    small_cnn(norm="full", rng=SEED), X[:BATCH], y[:BATCH], lr=lr).layers.items()}
    for lr in (PROBE_LR, 1e-1)}
for n in errs[PROBE_LR]:
    print(f"answer 2: {n}: BN err {errs[PROBE_LR][n]:.1e} at lr {PROBE_LR:g}, "
          f"{errs[1e-1][n]:.1e} at lr 0.1 (x{errs[1e-1][n] / errs[PROBE_LR][n]:.3g})")

# %% [markdown]
# **3.** Multiply every conv weight by 10 before training (BatchNorm makes the network output
# unchanged). What happens to $\tilde\mu$, to the speed of training, and why does plain SGD
# never undo it?
#
# <details><summary>Answer</summary>
#
# $\tilde\mu = \eta\gamma^2K/\|w\|^2$ drops by 100 (the cell below prints the factor): the
# network computes the same function but learns about 100 times more slowly in those layers.
# Fact 2 says the gradient is orthogonal to $w$, so SGD can only *grow* $\|w\|$; only weight
# decay shrinks it — which is why weight decay and BatchNorm together act like a learning-rate
# schedule.
# </details>

# %% tags=["hide-input"]
mus = []
for factor in (1.0, 10.0):
    model = small_cnn(norm="full", rng=SEED)
    for name in ("conv1", "conv2", "conv3"):
        model[name].params["weight"] *= factor
    rep = bridge.compare_first_step(model, X[:BATCH], y[:BATCH], lr=PROBE_LR)
    mus.append(np.median(rep.layers["conv2"].nlms_mu))
print(f"answer 3: conv2's median NLMS step size mu~ drops by x{mus[0] / mus[1]:.4g}")

# %% [markdown]
# **4.** Take a covariance of rank one, $C = e_1 e_1^T$, with $K = 27$ (conv1's size). What
# spread of $\rho$ does the formula predict, and what does it mean for "BatchNorm is NLMS"?
#
# <details><summary>Answer</summary>
#
# $\operatorname{Var}\rho = \frac{2}{K+2}(K - 1) \approx 1.8$, a standard deviation of about
# 1.3 around a mean of 1: the NLMS description of a single filter is then meaningless, though it
# still holds on average. The cell below checks the formula against 20000 random filters.
# </details>

# %% tags=["hide-input"]
C1 = np.zeros((27, 27))
C1[0, 0] = 1.0
sample = bridge.rho(np.random.default_rng(SEED).normal(size=(20000, 27)), C1)
print(f"answer 4: predicted sd {bridge.rho_spread(C1):.3f}, sampled sd {sample.std():.3f}, "
      f"sampled mean {sample.mean():.3f}")
