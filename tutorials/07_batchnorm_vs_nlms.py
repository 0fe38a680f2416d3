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
# # Tutorial 7 — BatchNorm versus NLMS: the first step and the drift after it
#
# **Motivation.** Tutorial 2's NLMS divides each step by the *input* power $\|u\|^2$, which
# made it immune to the scale of its input. Tutorial 5 found BatchNorm making each layer immune
# to the scale of *its* input. Is BatchNorm secretly NLMS? This tutorial answers precisely:
# **on the first training step, to first order, yes** — with a normalised step size you can
# compute — and afterwards it drifts away from NLMS in a way you can watch step by step.

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn import bridge
from lmsbn.data import shapes
from lmsbn.nn import small_cnn
from lmsbn.plot import plot_bn_nlms_drift, plot_first_step
from lmsbn.train import train

# %% tags=["parameters"]
N_TRAIN = 1000  # test: 128
BATCH = 64  # test: 32
TRAIN_BATCH = 32  # test: 16
PROBE_LR = 1e-4
LR = 0.1
STEPS = 100  # test: 6
EVERY = 10  # test: 2
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
# For white inputs ($C \propto I$) $\rho = 1$ exactly. For an isotropic random initialisation
# $E[\rho] \approx 1$: **BatchNorm's first step is an NLMS step with normalised step size
# $\tilde\mu = \eta\gamma^2 K/\|w\|^2$.**

# %%
X, y = shapes(N_TRAIN, rng=SEED)
K = 144
C_white = np.eye(K)
w_random = np.random.default_rng(SEED).normal(size=(5, K))
print("rho for white input (should be exactly 1):", bridge.rho(w_random, C_white))

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
# ## 3. The drift during training
#
# Now train the network with a `ModeTracker` callback, which records for every conv+BN layer,
# every `EVERY` steps, the BatchNorm effective step $\eta\gamma^2/\sigma^2$, the NLMS step
# for the same layer and error, their ratio, $\rho$ and $\|w\|$ — per filter.

# %%
tracker = bridge.ModeTracker(every=EVERY, rng=SEED)
model = small_cnn(norm="full", rng=SEED)
hist = train(model, X, y, steps=STEPS, lr=LR, batch_size=TRAIN_BATCH, callbacks=[tracker],
             rng=SEED)
print(hist.summary())

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
plot_bn_nlms_drift(tracker, ax=axes[0])
for name, rec in tracker.record.items():
    if not rec.bn:
        continue                                   # fc1 is not followed by BatchNorm
    # rec.bn[q] has one row per record and one column per filter.
    growth = rec.bn["w_norm"] / rec.bn["w_norm"][0]
    line, = axes[1].plot(rec.steps, np.median(growth, axis=1), label=name)
    axes[1].fill_between(rec.steps, np.percentile(growth, 25, axis=1),
                         np.percentile(growth, 75, axis=1), color=line.get_color(), alpha=0.2)
    first, last = ({q: np.median(rec.bn[q][i]) for q in ("ratio", "rho", "w_norm")}
                   for i in (0, -1))
    print(f"{name} (steps {rec.steps[0]} -> {rec.steps[-1]}): median ratio {first['ratio']:.3f} "
          f"-> {last['ratio']:.3f}, median rho {first['rho']:.3f} -> {last['rho']:.3f}, "
          f"median ||w|| {first['w_norm']:.4f} -> {last['w_norm']:.4f}")
axes[1].set(xlabel="training step", ylabel=r"$\|w(t)\| / \|w(0)\|$",
            title="Growth of the filter norms (median, quartiles)")
axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# The printed numbers are the measurement; compare them with the theory:
#
# * the ratio is $1/\rho$ (up to $\epsilon$) at every step, so the two curves mirror each other;
# * we expect $\rho$ to drift away from 1 as the filters turn towards the top
#   eigenvectors of $C$: their Rayleigh quotient then exceeds the mean eigenvalue, $\rho > 1$,
#   and BatchNorm takes *smaller* steps than the matching NLMS filter. Check the direction and
#   size of the drift in the printout — with other seeds, data or learning rates it may differ;
# * $\|w\|$ never decreases (fact 2: the gradient is orthogonal to $w$, so each step adds
#   $\eta^2\|\nabla\|^2$ to $\|w\|^2$), which slowly lowers the effective
#   $\tilde\mu = \eta\gamma^2 K/\|w\|^2$ — an automatic learning-rate decay.
#
# ## Exercises
#
# **1.** Verify fact 2 by hand for the first conv layer: after `compare_first_step`, read
# `model["conv1"].grads["weight"]` and compute `np.sum(w * dw, axis=(1, 2, 3))`.
#
# <details><summary>Answer</summary>
#
# `compare_first_step` leaves the gradients of its backward pass in the layers. The per-filter
# inner products are of order $\epsilon$ relative to $\|w\|\|\nabla\|$ — zero up to the
# $\epsilon$ inside BatchNorm's square root, exactly what `scale_invariance` reports.
# </details>
#
# **2.** Increase `PROBE_LR` to 1e-1. What happens to `BN err`, and why?
#
# <details><summary>Answer</summary>
#
# It grows roughly in proportion to the learning rate: fact 3 is a first-order (linear)
# prediction, and the neglected terms are $O(\eta^2)$ relative to an $O(\eta)$ change.
# </details>
#
# **3.** Multiply every conv weight by 10 before training (BatchNorm makes the network output
# unchanged). What happens to $\tilde\mu$, to the speed of training, and why does plain SGD
# never undo it?
#
# <details><summary>Answer</summary>
#
# $\tilde\mu = \eta\gamma^2K/\|w\|^2$ drops by 100: the network computes the same function but
# learns about 100 times more slowly in those layers. Fact 2 says the gradient is orthogonal to
# $w$, so SGD can only *grow* $\|w\|$; only weight decay shrinks it — which is why weight decay
# and BatchNorm together act like a learning-rate schedule.
# </details>
