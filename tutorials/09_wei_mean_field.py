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
# # Tutorial 9 — The Fisher information and the largest learning rate (Wei et al. 2019)
#
# **Why this question matters.** For LMS the largest stable step is $2/\lambda_{max}(R)$
# (tutorial 1): one number, the top eigenvalue of the input autocorrelation, tells you how large a
# step the filter survives. A network trained on a squared error has the same kind of number.
# Wei, Stokes and Schwab (*Mean-field analysis of batch normalization*, 2019) state in their
# abstract that BatchNorm *flattens* the loss landscape, measured by the largest eigenvalue of the
# Fisher information; that this justifies larger learning rates, up to a maximal allowable one;
# and that a smaller BatchNorm scale $\gamma$ trains to a lower loss in the same number of epochs.
#
# **Provenance.** The project has only that abstract. The bound $\eta^* = 2(1+m)/\lambda_{max}$
# is the classical stability bound of heavy-ball gradient descent on a quadratic; the mean-field
# estimate of section 2 is lmsbn's own derivation (in the framework of Karakida, Akaho and Amari
# 2019), not the paper's formula; the sweep of section 3 and its verdict are lmsbn's design.
#
# You will
#
# 1. build the Fisher matrix of a tiny network by hand from backward passes, and find its top
#    eigenvalue by power iteration without ever forming it;
# 2. derive what BatchNorm's $\gamma$ does to $\lambda_{max}$, in one line, and check it against
#    measurements on a wider network;
# 3. compare the predicted largest learning rate with where training actually diverges.

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn.data import shapes
from lmsbn.experiments import wei
from lmsbn.nn import BatchNorm1d, Linear, ReLU, Sequential, small_cnn
from lmsbn.plot import plot_gamma_lr_map
from lmsbn.train import train

# %% tags=["parameters"]
WIDTH = 64  # test: 16
DEPTH = 3
BATCH = 32  # test: 8
GAMMAS = (0.5, 1.0, 2.0, 4.0)
FIM_ITERS = 40  # test: 10
SWEEP_GAMMAS = (0.5, 1.0, 2.0)
SWEEP_STEPS = 20  # test: 3
SWEEP_LRS = 6  # test: 3
SWEEP_N = 128  # test: 32
SEED = 0

# %% [markdown]
# ## 1. The Fisher information, by hand and by power iteration
#
# Model the network's output as the mean of a unit-variance Gaussian, $t \sim N(f_\theta(x), I)$.
# Its Fisher information over a batch of $N$ inputs is
#
# $$
# I(\theta) = \frac1N\sum_{n} J_n^\top J_n, \qquad
# J_n = \frac{\partial f_\theta(x_n)}{\partial\theta},
# $$
#
# which is also the Gauss-Newton matrix of the squared error $\frac{1}{2N}\sum_n\|f_\theta(x_n) -
# t_n\|^2$. Near a minimum gradient descent sees the quadratic model with curvature $I$, so as for
# LMS the error along the top eigenvector is multiplied by $1 - \eta\lambda_{max}$ per step; with
# heavy-ball momentum $m$ the step is stable iff
#
# $$
# \eta < \eta^* = \frac{2(1+m)}{\lambda_{max}(I)} .
# $$
#
# One row of $J$ is one backward pass: put a 1 in entry $(n, c)$ of `dout` and read the
# parameter gradients. With BatchNorm in training mode, output $n$ depends on the whole batch
# through its statistics, and this backward pass includes that dependence.

# %%
rng = np.random.default_rng(SEED)
tiny = Sequential(Linear(4, 6, bias=False, rng=1), BatchNorm1d(6), ReLU(), Linear(6, 3, rng=2))
x_tiny = rng.standard_normal((10, 4))
out = tiny.forward(x_tiny)
rows = []
for n in range(out.shape[0]):
    for c in range(out.shape[1]):
        dout = np.zeros_like(out)
        dout[n, c] = 1.0
        tiny.backward(dout)
        rows.append(np.concatenate([g.ravel() for _, _, g in tiny.named_parameters()]))
J = np.array(rows)                                  # (N * C, P)
I_hand = J.T @ J / out.shape[0]
# Same backward passes as wei.fim_explicit, summed in another order: rounding only.
assert np.allclose(I_hand, wei.fim_explicit(tiny, x_tiny), rtol=1e-10, atol=1e-12)
# The nonzero eigenvalues of J^T J / N and of the (N C) x (N C) Gram matrix J J^T / N agree:
lam_exact = np.linalg.eigvalsh(I_hand)[-1]
assert np.isclose(lam_exact, np.linalg.eigvalsh(J @ J.T / out.shape[0])[-1], rtol=1e-10)
print(f"{J.shape[1]} parameters; lambda_max of the hand-built Fisher matrix: {lam_exact:.10f}")

# %% [markdown]
# A real network has too many parameters to form $I$. Power iteration needs only products
# $I v = \frac1N\sum_n J_n^\top (J_n v)$: $J_n v$ is a central finite difference of the forward
# pass along $v$, and $\sum_n J_n^\top u_n$ is one backward pass with `dout = u`
# (`wei.fim_matvec`). Repeat $v \leftarrow Iv/\|Iv\|$; the Rayleigh quotient $v^\top I v$
# converges to $\lambda_{max}$ at the rate $\lambda_2/\lambda_1$ per step.

# %%
v = rng.standard_normal(J.shape[1])
v /= np.linalg.norm(v)
history = []
for _ in range(300):
    w = wei.fim_matvec(tiny, x_tiny, v)
    history.append(v @ w)                           # Rayleigh quotient of the unit vector v
    v = w / np.linalg.norm(w)
est = wei.fim_lambda_max(tiny, x_tiny, iters=300, tol=1e-12, rng=SEED)
# The finite-difference products carry an O(h^2) error, measured ~3e-7 relative with BatchNorm
# (tests/test_wei.py): 1e-6 covers it.
assert np.isclose(history[-1], lam_exact, rtol=1e-6)
assert np.isclose(est.lambda_max, lam_exact, rtol=1e-6)
print(f"power iteration by hand {history[-1]:.10f}, wei.fim_lambda_max {est.lambda_max:.10f}")

# %% [markdown]
# ## 2. What $\gamma$ does to $\lambda_{max}$: a mean-field estimate
#
# The nonzero eigenvalues of $I$ are those of the $N\times N$ Gram matrix $K_{nm} = J_n\cdot
# J_m/N$ of per-example Jacobians (one output). For a wide random network mean-field theory
# gives its entries: $\kappa_1 = E\|J_n\|^2$ on the diagonal, $\kappa_2 = E\,J_n\cdot J_m$ off it,
#
# $$
# K \approx \tfrac1N\big[\kappa_2\,\mathbf 1\mathbf 1^\top + (\kappa_1 - \kappa_2) I\big]
# \quad\Longrightarrow\quad \lambda_{max} \approx \kappa_2 + \frac{\kappa_1 - \kappa_2}{N}
# \to \kappa_2 .
# $$
#
# The sharpest direction moves *every* example's output the same way. Now the BatchNorm part:
# its backward pass projects the batch mean out of the gradient, so a parameter below a
# BatchNorm has batch-centred Jacobians — they add nothing to $\kappa_2$. Only the output layer
# and the last BatchNorm's own $\beta, \gamma$ remain. The output layer's inputs are
# $\mathrm{ReLU}(\gamma z)$ with $z$ standardised and independent across examples, so
# $E[\mathrm{ReLU}(\gamma z)]^2 = \gamma^2/2\pi$ per unit; with $N_h$ hidden units, weight
# variance $\sigma_w^2/N_h$ and $E[\phi'] = \tfrac12$, $E[\phi' z] = 1/\sqrt{2\pi}$:
#
# $$
# \lambda_{max} \approx \kappa_2 = \frac{N_h\gamma^2}{2\pi} + 1
# + \sigma_w^2\Big(\frac14 + \frac1{2\pi}\Big),
# $$
#
# growing as $\gamma^2$: **small $\gamma$ means a flat landscape and a large $\eta^*$.** Without
# BatchNorm every layer adds to $\kappa_2$ (the library's `mean_field_lambda_max` carries the
# arc-cosine kernels of the plain net, and the finite-batch term). This derivation is lmsbn's
# own; the code states every step.

# %%
SIGMA_W2 = 2.0                                      # He initialisation, the library's default
for g in GAMMAS:
    kappa2 = WIDTH * g**2 / (2 * np.pi) + 1 + SIGMA_W2 * (0.25 + 1 / (2 * np.pi))
    library = wei.mean_field_lambda_max(DEPTH, WIDTH, gamma=g, sigma_w2=SIGMA_W2, sigma_b2=0.0)
    assert np.isclose(kappa2, library, rtol=1e-12)  # the same formula: rounding only
print("the one-line kappa_2 equals wei.mean_field_lambda_max (wide-batch limit) for every gamma")


def mlp(gamma):
    """DEPTH weight layers of WIDTH units; gamma None = no BatchNorm (and biases instead)."""
    layers = []
    for i in range(DEPTH - 1):
        layers.append(Linear(WIDTH, WIDTH, rng=i, bias=gamma is None))
        if gamma is not None:
            layers.append(BatchNorm1d(WIDTH, gamma=gamma))
        layers.append(ReLU())
    return Sequential(*layers, Linear(WIDTH, 1, rng=99))


x = rng.standard_normal((BATCH, WIDTH))
measured, theory = {}, {}
for g in (None, *GAMMAS):
    measured[g] = wei.fim_lambda_max(mlp(g), x, iters=FIM_ITERS, tol=1e-5, rng=SEED).lambda_max
    theory[g] = wei.mean_field_lambda_max(DEPTH, WIDTH, gamma=g, sigma_b2=0.0, batch_size=BATCH)
    label = "no BN" if g is None else f"gamma = {g}"
    print(f"{label:>11}: measured lambda_max {measured[g]:8.2f}, "
          f"mean field {theory[g]:8.2f} (ratio {measured[g] / theory[g]:.3f}), "
          f"eta* = 2/lambda_max = {wei.max_learning_rate(measured[g]):.4f}")

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
gs = np.array(GAMMAS)
ax.loglog(gs, [measured[g] for g in GAMMAS], "o", label="measured with BN (power iteration)")
ax.loglog(gs, [theory[g] for g in GAMMAS], "-", label="mean field, with BN")
ax.axhline(measured[None], color="C3", ls=":", label="measured, no BN")
ax.set_xticks(gs, [f"{g:g}" for g in gs], minor=False)
ax.minorticks_off()
ax.set(xlabel="BatchNorm scale $\\gamma$", ylabel="$\\lambda_{max}$ of the Fisher matrix",
       title=f"MLP, depth {DEPTH}, width {WIDTH}, batch {BATCH}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The printed ratios say how good the one-line estimate is at this width; the crossing of the
# BN curve with the dotted no-BN line is the $\gamma$ below which BatchNorm flattens the
# landscape of this network.
#
# ## 3. Predicted against measured: a learning-rate $\times$ $\gamma$ sweep
#
# Now the CNN of the earlier tutorials, trained by minibatch SGD on lmsbn's `mse_loss` (a mean
# over the $C$ outputs too, so its curvature is $I/C$ and $\eta^* = 2C(1+m)/\lambda_{max}$). The
# stars are the predicted $\eta^*$ from $\lambda_{max}$ at initialisation; blank cells diverged
# (lmsbn counts a run as diverged when its loss ever exceeds twice its first value). The
# verdict prints, per row, how far the first diverging rate of the grid lies from the
# prediction. Its "same lr" line is lmsbn's test of the abstract's "smaller $\gamma$ reaches a
# lower loss after the same number of epochs" (equal rate, equal budget); its "best loss" line
# lets each $\gamma$ use its own best rate, which mixes in how large a rate each one allows.

# %%
lrs = np.logspace(-1.5, 1.5, SWEEP_LRS)
sweep = wei.gamma_lr_sweep(gammas=SWEEP_GAMMAS, lrs=lrs, steps=SWEEP_STEPS, n=SWEEP_N,
                           fim_iters=10, rng=SEED)
print(sweep.summary())
for lab, p, m in zip(sweep.labels(), sweep.predicted_lr, sweep.measured_lr):
    print(f"{lab:>10}: first diverging lr / predicted eta* = "
          + (f"{m / p:.3g}" if np.isfinite(m) else "no divergence on the grid"))
ax = plot_gamma_lr_map(sweep)
plt.show()

# %% [markdown]
# ## Exercises
#
# Each answer is computed by the cell after the exercise; try it yourself first.
#
# **1.** Why does the power iteration's estimate never exceed the exact $\lambda_{max}$ (up to
# the finite-difference error)? Check it on the history of section 1.
#
# <details><summary>Answer</summary>
#
# Each estimate is a Rayleigh quotient $v^\top I v$ of a unit vector, and for a symmetric
# matrix that always lies between its smallest and its largest eigenvalue. The estimate climbs
# toward $\lambda_{max}$ from below. The cell below prints the largest quotient of the history
# over the exact value.
# </details>

# %% tags=["hide-input"]
print(f"answer 1: max Rayleigh quotient / exact lambda_max = {max(history) / lam_exact:.10f}; "
      f"first quotient / exact = {history[0] / lam_exact:.4f}")

# %% [markdown]
# **2.** Double `WIDTH`. How do the measured and the mean-field $\lambda_{max}$ with BatchNorm
# at $\gamma = 1$ change?
#
# <details><summary>Answer</summary>
#
# The output layer's $N_h\gamma^2/2\pi$ dominates $\kappa_2$, so both roughly double — a bit
# less, because of the width-independent terms. The cell below measures both widths.
# </details>

# %% tags=["hide-input"]
lam_w = {}
for width in (WIDTH, 2 * WIDTH):
    net = Sequential(*[layer for i in range(DEPTH - 1) for layer in
                       (Linear(width, width, rng=i, bias=False), BatchNorm1d(width), ReLU())],
                     Linear(width, 1, rng=99))
    xw = np.random.default_rng(SEED).standard_normal((BATCH, width))
    lam_w[width] = (wei.fim_lambda_max(net, xw, iters=FIM_ITERS, tol=1e-5, rng=SEED).lambda_max,
                    wei.mean_field_lambda_max(DEPTH, width, gamma=1.0, sigma_b2=0.0,
                                              batch_size=BATCH))
(m1, t1), (m2, t2) = lam_w[WIDTH], lam_w[2 * WIDTH]
print(f"answer 2: width {WIDTH} -> {2 * WIDTH}: measured lambda_max {m1:.2f} -> {m2:.2f} "
      f"(x{m2 / m1:.3f}), mean field {t1:.2f} -> {t2:.2f} (x{t2 / t1:.3f})")

# %% [markdown]
# **3.** In the sweep the plain CNN usually survives learning rates far above its predicted
# $\eta^*$. Train it at ten times its prediction and measure $\lambda_{max}$ again afterwards.
# What happened?
#
# <details><summary>Answer</summary>
#
# The first large steps overshoot along the sharpest direction and shrink what carries it (ReLU
# units die, outputs shrink): $\lambda_{max}$ falls by a large factor, and training goes on at a
# new, flatter point where the rate is stable (compare the "catapult" phase described by
# Lewkowycz et al. 2020). $2/\lambda_{max}$ describes the quadratic model at the start only.
# The cell below prints the losses and both $\lambda_{max}$.
# </details>

# %% tags=["hide-input"]
X, labels = shapes(SWEEP_N, size=16, rng=SEED)
targets = np.eye(10)[labels]
plain = small_cnn(3, 10, (8, 16), "none", rng=SEED)
lam_before = wei.fim_lambda_max(plain, X[:32], iters=10, tol=1e-4, rng=SEED).lambda_max
eta_star = 2 * 10 / lam_before                # mse_loss averages over C = 10 outputs: 2C/lambda
lr_test = 10 * eta_star
hist = train(plain, X, targets, steps=max(SWEEP_STEPS, 10), batch_size=32, lr=lr_test,
             loss="mse", rng=SEED, max_loss=1e3)
lam_after = wei.fim_lambda_max(plain, X[:32], iters=10, tol=1e-4, rng=SEED).lambda_max
print(f"answer 3: lr {lr_test:.3g} (10 x eta*): loss {hist.loss[0]:.3g} at the first step, max "
      f"{np.max(hist.loss):.3g}, last {hist.loss[-1]:.3g}"
      + (" (diverged)" if hist.diverged else "")
      + f"; lambda_max {lam_before:.4g} before, {lam_after:.4g} after "
      f"(x{lam_after / lam_before:.2g})")
