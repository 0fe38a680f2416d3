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
# # Tutorial 10 — BatchNorm networks are convex programs in disguise (Ergen et al. 2021)
#
# **Why this question matters.** Training a neural network is a non-convex problem: gradient
# descent may stop in a poor local minimum, and nothing tells us how far from the best network
# it stopped. For LMS (tutorial 1) the opposite holds: the error surface is a quadratic bowl,
# the Wiener solution is *the* optimum, and we can measure the distance to it. Ergen, Sahiner,
# Ozturkler, Pauly, Mardani and Pilanci (arXiv:2103.01499) state in their abstract that a
# two-layer ReLU network **with BatchNorm and weight decay** is equivalent to a *convex* program,
# that BatchNorm *whitens* the data, and that in the high-dimensional regime the optimum has a
# closed form. Then we get a certificate for gradient descent, as we had for LMS.
#
# **Provenance.** The project has only that abstract. The parametrisation below, the closed form
# and the convex program are lmsbn's reconstruction of those statements, checked numerically
# here and in `tests/test_ergen.py` against non-convex training — not against the paper's text.
#
# The network, with BatchNorm in training mode over the whole data set ($n$ samples):
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
# This BatchNorm divides by the norm; the library's `BatchNorm1d` divides by the standard
# deviation $\|\cdot\|/\sqrt n$, so its scale is $\gamma/\sqrt n$ (`ergen.BNReLUNetwork`
# converts).
#
# You will
#
# 1. whiten the data by hand and see that a BatchNorm neuron only sees the whitened data;
# 2. write the closed-form optimum in four lines, and watch gradient descent approach it;
# 3. evaluate the convex program's objective by hand and use it as a certificate for gradient
#    descent where no closed form exists.

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn.experiments import ergen
from lmsbn.nn import BatchNorm1d, Linear
from lmsbn.plot import plot_ergen_convergence, plot_ergen_fit, plot_ergen_objectives

# %% tags=["parameters"]
SEED = 1
N_HIGH, D_HIGH = 8, 20        # high-dimensional regime: d >= n - 1
N_LOW, D_LOW = 40, 3          # low-dimensional regime: the closed form is only a lower bound
BETA = 0.3
WIDTH = 10
STEPS = 2000  # test: 300
RESTARTS = 4  # test: 2
ARRANGEMENTS = 100  # test: 20
MAX_ITER = 5000  # test: 400

# %%
rng = np.random.default_rng(SEED)
X = rng.normal(size=(N_HIGH, D_HIGH))
y = rng.normal(size=N_HIGH)

# %% [markdown]
# ## 1. BatchNorm whitens the data
#
# Centre the data and take its SVD, $(I - \frac1n\mathbf 1\mathbf 1^T)X = U\Sigma V^T$ (keep
# the $r$ nonzero singular values). Then $(I - \frac1n\mathbf 1\mathbf 1^T)Xw = Uz$ with
# $z = \Sigma V^T w$, and
#
# $$ \mathrm{BN}_{\gamma,\alpha}(Xw) = \gamma\frac{Uz}{\|z\|} + \frac{\alpha}{\sqrt n}\mathbf 1
#    = U'q, \qquad U' = [U, \mathbf 1/\sqrt n], \quad q = [\gamma z/\|z\|;\ \alpha],
#    \quad \|q\|^2 = \gamma^2 + \alpha^2. $$
#
# Every neuron sees only the *whitened* data $U'$ (orthonormal columns): the singular values of
# $X$ are gone. The network is a plain ReLU network on $U'$ with weight decay on $q$ and $v$.

# %%
centred = X - X.mean(axis=0)
U, sv, _ = np.linalg.svd(centred, full_matrices=False)
r = int(np.sum(sv > sv[0] * max(X.shape) * np.finfo(float).eps))   # numerical rank
U_prime = np.hstack([U[:, :r], np.ones((N_HIGH, 1)) / np.sqrt(N_HIGH)])

white = ergen.whiten(X)
# U' is fixed only up to a rotation of its columns (SVD signs, repeated singular values);
# the projector U'U'^T is unique. Both come from an SVD of the same matrix: rounding only.
assert white.rank == r
assert np.allclose(U_prime @ U_prime.T, white.U_prime @ white.U_prime.T, atol=1e-12)
print(f"U' is {U_prime.shape[0]} x {U_prime.shape[1]}, rank of the centred data {r}; "
      f"U'^T U' = I: {np.allclose(U_prime.T @ U_prime, np.eye(r + 1))}")

# A BatchNorm neuron built from the library's layers: its output lies in the span of U'.
fc, bn = Linear(D_HIGH, 1, bias=False, rng=0), BatchNorm1d(1, eps=0.0)
pre = bn.forward(fc.forward(X))[:, 0]
q = U_prime.T @ pre
print(f"BN output = U' q: {np.allclose(U_prime @ q, pre)};  ||q||^2 = {q @ q:.12f} "
      f"= n * gamma_lib^2 = {N_HIGH * bn.params['weight'][0] ** 2}")

# %% [markdown]
# ## 2. The closed form in the high-dimensional regime
#
# When $U'$ is square ($d \ge n - 1$, data in general position), *any* vector $u$ is some
# neuron's BatchNorm output, with $\|q\| = \|u\|$. A ReLU neuron can only output a non-negative
# vector, and by the AM-GM inequality $\tfrac\beta2(\|q\|^2 + v^2) \ge \beta\|q\||v|$, so the
# best network uses at most two neurons: one on the positive part $y_+$ of the targets, one
# (with a negative output weight) on the negative part $y_-$, each shrunk like a group lasso:
#
# $$ f^* = \Big(1 - \frac{\beta}{\|y_+\|}\Big)_+ y_+ - \Big(1 - \frac{\beta}{\|y_-\|}\Big)_+ y_-,
#    \qquad p^* = \sum_{u\in\{y_+,y_-\}} \Big[\tfrac12\min(\|u\|,\beta)^2
#    + \beta(\|u\| - \beta)_+\Big]. $$

# %%
parts = (np.maximum(y, 0), np.maximum(-y, 0))                      # y = y+ - y-
norms = [np.linalg.norm(u) for u in parts]
f_star = sum(s * max(0.0, 1 - BETA / nu) * u
             for s, u, nu in zip((1, -1), parts, norms))
p_star = sum(0.5 * min(nu, BETA) ** 2 + BETA * max(nu - BETA, 0.0) for nu in norms)

cf = ergen.closed_form(X, y, BETA)
# The same few operations on the same numbers: rounding only.
assert np.isclose(p_star, cf.value, rtol=1e-12) and np.allclose(f_star, cf.outputs, atol=1e-12)
print(f"p* by hand {p_star:.6f};  {cf.summary()}")
print(f"objective of the closed form's {cf.network.width}-neuron network through lmsbn's layers: "
      f"{cf.network.objective(X, y, BETA):.6f}")

# %% [markdown]
# Now the ordinary way: full-batch gradient descent (manual backprop through `Linear`,
# `BatchNorm1d`, `ReLU`, `Linear`) on a network of `WIDTH` neurons, from a few random starts.

# %%
nc = ergen.train_nonconvex(X, y, BETA, WIDTH, steps=STEPS, restarts=RESTARTS, rng=SEED)
print(nc.summary())
gap_high = (nc.objective - cf.value) / cf.value
print(f"relative gap of gradient descent to the closed form: {gap_high:.2e}")
# p* is the global optimum: no network can do better (up to rounding in its objective).
assert nc.objective >= cf.value * (1 - 1e-9)

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
plot_ergen_objectives(nc, axes[0], closed=cf)
plot_ergen_fit(y, {"closed form f*": cf.outputs, "GD network": nc.network.forward(X)}, axes[1])
plt.show()

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
# $$ \min_{c_i, c_i'} \tfrac12 \Big\|\sum_i D_iU'(c_i - c_i') - y\Big\|^2
#    + \beta\sum_i(\|c_i\| + \|c_i'\|)
#    \quad \text{s.t. } (2D_i - I)U'c_i \ge 0,\ (2D_i - I)U'c_i' \ge 0 . $$
#
# The constraints say that $D_i$ really is the pattern of $U'c_i$. We sample arrangements
# $D_i = \mathrm{diag}(\mathbb 1[U'g_i \ge 0])$ with Gaussian $g_i$, add those of the trained
# network, and `ergen.convex_program` solves the program with FISTA (gradient step, group
# soft-thresholding, Nesterov momentum) inside an augmented Lagrangian for the cone
# constraints. Every active group $c$ maps back to one neuron, $q = c/\sqrt{\|c\|}$,
# $v = \pm\sqrt{\|c\|}$. Below, the objective and the constraints are evaluated by hand from the
# solver's coefficients.

# %%
rng_low = np.random.default_rng(SEED + 1)
X2 = rng_low.normal(size=(N_LOW, D_LOW))
y2 = np.maximum(X2 @ rng_low.normal(size=D_LOW), 0) - 0.5 + 0.1 * rng_low.normal(size=N_LOW)
nc2 = ergen.train_nonconvex(X2, y2, BETA, WIDTH, steps=STEPS, restarts=RESTARTS, rng=SEED)
patterns = np.vstack([ergen.sample_arrangements(X2, ARRANGEMENTS, rng=SEED),
                      ergen.network_arrangements(nc2.network, X2)])
cv2 = ergen.convex_program(X2, y2, BETA, arrangements=patterns, max_iter=MAX_ITER, tol=1e-6)
lower = ergen.closed_form(X2, y2, BETA, require_full_rank=False)
print(nc2.summary())
print(cv2.summary())
print(lower.summary())

Up = ergen.whiten(X2).U_prime
c_pos, c_neg = cv2.coefficients                                   # (P, r + 1) each
D = patterns.astype(float).T                                       # (n, P): column i is D_i
fit = (D * (Up @ (c_pos - c_neg).T)).sum(axis=1)                   # sum_i D_i U'(c_i - c_i')
group_norms = np.linalg.norm(c_pos, axis=1).sum() + np.linalg.norm(c_neg, axis=1).sum()
objective = 0.5 * np.sum((fit - y2) ** 2) + BETA * group_norms
violation = max(np.max(-(2 * D - 1) * (Up @ c.T)) for c in (c_pos, c_neg))
# The same sums in another order: rounding only.
assert np.isclose(objective, cv2.objective, rtol=1e-10)
assert np.isclose(max(violation, 0.0), cv2.max_violation, rtol=1e-10, atol=1e-15)
print(f"by hand: convex objective {objective:.6f}, largest constraint violation "
      f"{max(violation, 0.0):.2e}")
print(f"lower bound {lower.value:.6f} <= convex {cv2.objective:.6f} <= GD {nc2.objective:.6f}: "
      f"{lower.value <= cv2.objective <= nc2.objective * (1 + 1e-5)};  rebuilt network attains "
      f"{cv2.network_objective:.6f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
plot_ergen_objectives(nc2, axes[0], closed=lower, convex=cv2)
plot_ergen_convergence(cv2, axes[1])
plt.show()

# %% [markdown]
# The convex objective is a certificate: no network using these arrangements does better, and
# it is below what gradient descent found (the trained network's own arrangements are among
# them, so the trained network is a feasible point), so we can read off how far GD stopped from
# the best such network. With all arrangements (exponentially many in the rank of $U'$) it
# would be the true $P^*$.
#
# ## Exercises
#
# Each answer is computed by the cell after the exercise; try it yourself first.
#
# **1.** Multiply every column of `X` by a different positive factor and recompute
# `closed_form`. Why does $p^*$ not change? Does the convex program's value change for the
# low-dimensional data, with the same arrangements?
#
# <details><summary>Answer</summary>
#
# Scaling columns is $X \to XS$ with an invertible $S$; the centred data keep their column
# space, hence the same $U'$ up to a rotation — BatchNorm only sees the whitened data. For
# full-rank $U'$ the value depends on $y$ alone. For the low-dimensional data the span of $U'$
# is unchanged too, so the program over the same arrangements (given as boolean patterns of
# the samples) has the same optimum; only the solver's path differs, within its tolerance.
# What would change is gradient descent's path, and freshly sampled arrangements (they are drawn
# through $U'$). The cell below prints both comparisons.
# </details>

# %% tags=["hide-input"]
scale = np.arange(1, D_HIGH + 1)
cf_scaled = ergen.closed_form(X * scale, y, BETA)
cv_scaled = ergen.convex_program(X2 * scale[:D_LOW], y2, BETA, arrangements=patterns,
                                 max_iter=MAX_ITER, tol=1e-6)
print(f"answer 1: high-dimensional p* {cf.value:.9f} -> {cf_scaled.value:.9f} with scaled "
      f"columns; low-dimensional convex objective {cv2.objective:.6f} -> {cv_scaled.objective:.6f} "
      f"(relative change {abs(cv_scaled.objective - cv2.objective) / cv2.objective:.1e})")

# %% [markdown]
# **2.** Increase `BETA` until one side is switched off: at what value does the closed-form
# network have one neuron? And zero?
#
# <details><summary>Answer</summary>
#
# The positive neuron dies when $\beta \ge \|y_+\|$ and the negative one when
# $\beta \ge \|y_-\|$ (`cf.norm_pos`, `cf.norm_neg`); above both, $f^* = 0$ and
# $p^* = \|y\|^2/2$. The cell below evaluates the closed form just below and above each norm.
# </details>

# %% tags=["hide-input"]
for b in sorted((cf.norm_pos, cf.norm_neg)):
    below, above = (ergen.closed_form(X, y, beta) for beta in (0.99 * b, 1.01 * b))
    print(f"answer 2: beta = {b:.4f}: {below.network.width} neuron(s) just below, "
          f"{above.network.width} just above")
top = ergen.closed_form(X, y, 1.01 * max(cf.norm_pos, cf.norm_neg))
print(f"answer 2: above both, p* = {top.value:.6f} and ||y||^2 / 2 = {0.5 * y @ y:.6f}")

# %% [markdown]
# **3.** Run the convex program with only five sampled arrangements. Is its objective still
# below gradient descent's? Why is it still a valid *upper* bound on $P^*$?
#
# <details><summary>Answer</summary>
#
# With few arrangements the program searches a smaller set of networks, so its value may rise
# above gradient descent's. Any feasible point is still a network (`cv.network`, whose objective
# the library's layers confirm), so the value is an upper bound on $P^*$; including the trained
# network's own arrangements is what guarantees it is below GD's. The cell below prints the
# three numbers.
# </details>

# %% tags=["hide-input"]
cv_few = ergen.convex_program(X2, y2, BETA, arrangements=5, rng=SEED, max_iter=MAX_ITER,
                              tol=1e-6)
print(f"answer 3: {cv_few.arrangements.shape[0]} arrangements: convex {cv_few.objective:.6f} "
      f"(its network through the layers {cv_few.network_objective:.6f}), GD {nc2.objective:.6f}, "
      f"{len(patterns)} arrangements: {cv2.objective:.6f}")
