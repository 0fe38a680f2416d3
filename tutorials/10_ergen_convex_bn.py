# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tutorial 10 — BatchNorm networks are convex programs in disguise (Ergen et al. 2021)
#
# Training a neural network is a non-convex problem: gradient descent may stop in a poor local
# minimum, and nothing tells us how far from the best network we are. Ergen, Sahiner, Ozturkler,
# Pauly, Mardani and Pilanci (ICLR 2022, arXiv:2103.01499) showed that for a two-layer ReLU
# network **with BatchNorm and weight decay** the global optimum can be found by a *convex*
# program, and in the high-dimensional regime even written down in closed form.
#
# The network, with BatchNorm in training mode over the whole data set (n samples):
#
# $$ f(X) = \sum_{j=1}^m \mathrm{relu}\big(\mathrm{BN}_{\gamma_j,\alpha_j}(X w_j)\big)\, v_j, \qquad
#    \mathrm{BN}_{\gamma,\alpha}(x) = \gamma \frac{x - \bar x\mathbf 1}{\|x - \bar x\mathbf 1\|}
#    + \frac{\alpha}{\sqrt n}\mathbf 1 , $$
#
# trained on
#
# $$ P^* = \min \tfrac12 \|f(X) - y\|^2 + \tfrac\beta2 \sum_j (\gamma_j^2 + \alpha_j^2 + v_j^2). $$
#
# The first-layer weights $w_j$ carry no penalty: BatchNorm makes $f$ invariant to their scale.
# (This parametrisation divides by the norm — lmsbn's reconstruction of the setting, since the
# project has only the paper's abstract; the library's `BatchNorm1d` divides by the standard
# deviation $\|\cdot\|/\sqrt n$; `BNReLUNetwork` converts, see
# `lmsbn/experiments/ergen/model.py`.)
#
# In this lesson you will
# 1. see that BatchNorm *whitens* the data;
# 2. check the closed-form optimum against gradient descent on the network built from lmsbn's layers;
# 3. solve the general convex program with FISTA and use it as a certificate for gradient descent.

# %% tags=["parameters"]
SEED = 1
N_HIGH, D_HIGH = 8, 20        # high-dimensional regime: d >= n - 1
N_LOW, D_LOW = 40, 3          # low-dimensional regime: the closed form is only a lower bound
BETA = 0.3
WIDTH = 10
STEPS = 2000                  # test: 300
RESTARTS = 4                  # test: 2
ARRANGEMENTS = 100            # test: 20
MAX_ITER = 5000               # test: 400

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn.experiments.ergen import (closed_form, convex_program, network_arrangements,
                                     sample_arrangements, train_nonconvex, whiten)
from lmsbn.plot import plot_ergen_convergence, plot_ergen_fit, plot_ergen_objectives

rng = np.random.default_rng(SEED)
X = rng.normal(size=(N_HIGH, D_HIGH))
y = rng.normal(size=N_HIGH)

# %% [markdown]
# ## 1. BatchNorm whitens the data
#
# Centre the data and take its SVD, $(I - \frac1n\mathbf 1\mathbf 1^T)X = U\Sigma V^T$. Then
# $(I - \frac1n\mathbf 1\mathbf 1^T)Xw = Uz$ with $z = \Sigma V^T w$, and
#
# $$ \mathrm{BN}_{\gamma,\alpha}(Xw) = \gamma\frac{Uz}{\|z\|} + \frac{\alpha}{\sqrt n}\mathbf 1 = U'q,
#    \qquad U' = [U, \mathbf 1/\sqrt n], \quad q = [\gamma z/\|z\|;\ \alpha],
#    \quad \|q\|^2 = \gamma^2 + \alpha^2. $$
#
# Every neuron sees only the *whitened* data $U'$ (orthonormal columns): the singular values of
# $X$ are gone. The network is a plain ReLU network on $U'$ with weight decay on $q$ and $v$.

# %%
white = whiten(X)
print("U' shape:", white.U_prime.shape, " rank of centred X:", white.rank, " full rank:", white.full_rank)
print("U'^T U' = I:", np.allclose(white.U_prime.T @ white.U_prime, np.eye(white.U_prime.shape[1])))

# A random BN neuron built from the library's layers: its BN output lies in the span of U'.
from lmsbn.nn import BatchNorm1d, Linear

fc, bn = Linear(D_HIGH, 1, bias=False, rng=0), BatchNorm1d(1, eps=0.0)
pre = bn.forward(fc.forward(X))[:, 0]
q = white.U_prime.T @ pre
print("BN output = U' q:", np.allclose(white.U_prime @ q, pre), " ||q||^2 =", q @ q,
      "= n * gamma_lib^2 =", N_HIGH * bn.params["weight"][0] ** 2)

# %% [markdown]
# ## 2. The closed form in the high-dimensional regime
#
# When $U'$ is square ($d \ge n - 1$, data in general position), *any* vector is some neuron's
# BatchNorm output, and the best network uses at most two neurons: one on the positive part
# $y_+$ of the targets, one (with a negative output weight) on the negative part $y_-$, each
# shrunk like a group lasso:
#
# $$ f^* = \Big(1 - \frac{\beta}{\|y_+\|}\Big)_+ y_+ - \Big(1 - \frac{\beta}{\|y_-\|}\Big)_+ y_-,
#    \qquad p^* = \sum_{u\in\{y_+,y_-\}} \Big[\tfrac12\min(\|u\|,\beta)^2 + \beta(\|u\| - \beta)_+\Big]. $$

# %%
cf = closed_form(X, y, BETA)
print(cf.summary())
print("objective of the two-neuron network, through lmsbn's layers:", cf.network.objective(X, y, BETA))

# %% [markdown]
# Now the ordinary way: full-batch gradient descent (manual backprop through `Linear`,
# `BatchNorm1d`, `ReLU`, `Linear`) from a few random starts.

# %%
nc = train_nonconvex(X, y, BETA, WIDTH, steps=STEPS, restarts=RESTARTS, rng=SEED)
print(nc.summary())
print(f"relative gap to the closed form: {(nc.objective - cf.value) / cf.value:.2e}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
plot_ergen_objectives(nc, axes[0], closed=cf)
plot_ergen_fit(y, {"closed form f*": cf.outputs, "GD network": nc.network.forward(X)}, axes[1]);

# %% [markdown]
# Gradient descent approaches $p^*$ from above and never goes below it. The fit is the targets
# pulled toward zero by $\beta$ on each side, exactly the group-lasso shrinkage of the formula.
#
# ## 3. The convex program
#
# In general ($n > d + 1$) a neuron's output $U'q$ cannot be arbitrary. Group the neurons by
# their *hyperplane arrangement* $D = \mathrm{diag}(\mathbb 1[U'q \ge 0])$, the set of samples on
# which the ReLU is on. Then $\mathrm{relu}(U'q) = DU'q$, linear in $q$, and the training problem
# becomes the convex group lasso
#
# $$ \min_{c_i, c_i'} \tfrac12 \Big\|\sum_i D_iU'(c_i - c_i') - y\Big\|^2 + \beta\sum_i(\|c_i\| + \|c_i'\|)
#    \quad \text{s.t. } (2D_i - I)U'c_i \ge 0,\ (2D_i - I)U'c_i' \ge 0 . $$
#
# We sample arrangements $D_i = \mathrm{diag}(\mathbb 1[U'g_i \ge 0])$ with Gaussian $g_i$, add
# those of the trained network, and solve with FISTA (gradient step, group soft-thresholding,
# Nesterov momentum) inside an augmented Lagrangian for the cone constraints. Every active group
# $c$ maps back to one neuron, $q = c/\sqrt{\|c\|}$, $v = \pm\sqrt{\|c\|}$.

# %%
rng_low = np.random.default_rng(SEED + 1)
X2 = rng_low.normal(size=(N_LOW, D_LOW))
y2 = np.maximum(X2 @ rng_low.normal(size=D_LOW), 0) - 0.5 + 0.1 * rng_low.normal(size=N_LOW)
nc2 = train_nonconvex(X2, y2, BETA, WIDTH, steps=STEPS, restarts=RESTARTS, rng=SEED)
patterns = np.vstack([sample_arrangements(X2, ARRANGEMENTS, rng=SEED),
                      network_arrangements(nc2.network, X2)])
cv2 = convex_program(X2, y2, BETA, arrangements=patterns, max_iter=MAX_ITER, tol=1e-6)
lower = closed_form(X2, y2, BETA, require_full_rank=False)
print(nc2.summary())
print(cv2.summary())
print(lower.summary())
print(f"convex <= GD: {cv2.objective <= nc2.objective * (1 + 1e-5)};"
      f"  rebuilt network attains the convex objective: {cv2.network_objective:.6f} vs {cv2.objective:.6f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
plot_ergen_objectives(nc2, axes[0], closed=lower, convex=cv2)
plot_ergen_convergence(cv2, axes[1]);

# %% [markdown]
# The convex objective is a certificate: no network using these arrangements does better, and
# it is below what gradient descent found, so we can read off how far GD stopped from the
# optimum. With all arrangements (exponentially many in the rank of $U'$) it would be the true
# $P^*$; sampled ones give a network at least as good as any whose arrangements we included.
#
# ## Exercises
#
# **1.** Multiply every column of `X` by a different positive factor (say `X * np.arange(1, D_HIGH + 1)`)
# and recompute `closed_form`. Why does $p^*$ not change? Does it for the low-dimensional data?
#
# <details><summary>Answer</summary>
#
# Scaling columns is $X \to XS$; the centred data $USV^T \to US V^T S$ has the same column
# space, hence the same $U$ (up to rotation) and the same $U'$ -- BatchNorm only sees the
# whitened data. For full-rank $U'$ the value depends on y alone. For the low-dimensional data the
# span of $U'$ is also unchanged by an invertible $S$, so $P^*$ and the convex program over the
# same arrangements do not change either: the network class is the same. What changes is
# gradient descent's *path*, and freshly sampled arrangements (they are drawn from $X$, so the
# same seed gives other patterns): the sampled convex objective then moves a little.
# </details>
#
# **2.** Increase `BETA` until one side is switched off: at what value does the closed-form network
# have one neuron? And zero?
#
# <details><summary>Answer</summary>
#
# The positive neuron dies when $\beta \ge \|y_+\|$ and the negative one when
# $\beta \ge \|y_-\|$ (`cf.norm_pos`, `cf.norm_neg`); above both, $f^* = 0$ and
# $p^* = \|y\|^2/2$.
# </details>
#
# **3.** Run `convex_program(X2, y2, BETA, arrangements=5, ...)` with only a few sampled arrangements.
# Is its objective still below gradient descent's? Why is it still a valid *upper* bound on $P^*$?
#
# <details><summary>Answer</summary>
#
# It may well be above GD's objective: with few arrangements the program searches a smaller set
# of networks. Any feasible point is still a network (`cv.network`, whose objective the library's
# layers confirm), so the value is an upper bound on $P^*$; including the trained network's own
# arrangements is what guarantees it is below GD's.
# </details>
