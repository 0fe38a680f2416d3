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
# # Tutorial 8 — Why BatchNorm allows a larger learning rate (Bjorck et al. 2018)
#
# **Why this question matters.** Tutorials 1-7 explained BatchNorm with adaptive-filter theory:
# a step size is stable below $2/\lambda_{max}$, and BatchNorm changes the eigenvalues each layer
# sees. Bjorck, Gomes, Selman and Weinberger (*Understanding Batch Normalization*, NeurIPS 2018)
# come at the same question from the network's side. Their abstract states that
#
# 1. BatchNorm's main benefit is that it lets the network train with a *larger* learning rate —
#    at the same small rate, nets with and without it train alike;
# 2. without BatchNorm, large gradient updates make the activations grow uncontrollably with
#    depth, and the gradients become heavy-tailed and input-independent;
# 3. random-matrix theory explains why depth makes this worse.
#
# **Provenance.** The project has only the paper's abstract. Every experiment below — the
# networks, the fraction $\alpha$ of one step, the "agreement" of per-example gradients, the
# thresholds of the verdicts — is lmsbn's own design for testing those statements, not the
# paper's. The Lyapunov exponents of Gaussian matrix products in section 4 are a classical
# random-matrix result.
#
# You will
#
# 1. compare BatchNorm and no BatchNorm at a small and a large learning rate;
# 2. derive why one large step changes the activations by a factor that compounds with depth,
#    and measure it in a few lines;
# 3. measure how much the per-example gradients agree, by hand, for one layer;
# 4. grow the condition number of a product of random matrices with a QR loop, against its
#    closed-form rate.

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn.bridge import stability_bound
from lmsbn.data import shapes
from lmsbn.experiments import bjorck
from lmsbn.nn import functional as F
from lmsbn.nn import small_cnn
from lmsbn.plot import (
    plot_activation_growth,
    plot_condition_growth,
    plot_gradient_histograms,
    plot_same_lr,
)
from lmsbn.train import train

# %% tags=["parameters"]
N_IMAGES = 256  # test: 64
STEPS = 60  # test: 8
SMALL_LR, LARGE_LR = 0.02, 0.5
DEPTH = 12  # test: 6
WIDTH = 8
BATCH = 16  # test: 8
STEP_LR = 10.0
N_MATRIX = 16
MATRIX_DEPTH = 40
TRIALS = 20  # test: 5
LR_GRID = (0.02, 0.1, 0.5, 2.0, 5.0)  # test: (0.1, 5.0)
SEED = 0

# %% [markdown]
# ## 1. The same small learning rate, then a large one
#
# Gradient descent on a quadratic with curvature $\lambda$ multiplies the error along that
# direction by $1 - \eta\lambda$ each step: stable iff $\eta < 2/\lambda_{max}$ (tutorial 1). At
# a rate far below *both* nets' bounds the bound plays no part, and the nets should learn alike;
# only a rate above the plain net's bound can separate them. We train lmsbn's `small_cnn` with
# and without BatchNorm at `SMALL_LR`, then both at `LARGE_LR`, from the same initial conv
# weights. "Alike" means final losses within 25 % of each other — lmsbn's threshold.

# %%
X, y = shapes(N_IMAGES, size=16, rng=SEED)
cmp = bjorck.same_lr_comparison(X, y, small_lr=SMALL_LR, large_lr=LARGE_LR, steps=STEPS,
                                rng=SEED)
print(cmp.summary())
ax = plot_same_lr(cmp)
plt.show()

# %% [markdown]
# ## 2. One large step compounds with depth
#
# Take the deep plain CNN of `bjorck.deep_plain_cnn`: `DEPTH` blocks
# $h_l = \mathrm{ReLU}(W_l * h_{l-1})$ at constant width, no pooling. ReLU and convolution are
# positively homogeneous, so to a first approximation block $l$ passes on its input's variance
# $v_{l-1}$ times a gain $c_l$ set by its weights:
#
# $$
# v_l \approx c_l\, v_{l-1} \quad\Longrightarrow\quad \frac{v_L}{v_1} \approx \prod_{l=2}^{L} c_l,
# \qquad \ln\frac{v_L}{v_1} \approx \sum_{l=2}^{L} \ln c_l .
# $$
#
# A gradient step $\theta \leftarrow \theta - \eta\, g$ changes every gain at once. If each changes
# by a factor $1+\delta$, the deepest variance changes by $(1+\delta)^{L-1}$: **exponential in
# depth**, upward or downward. With BatchNorm after every convolution each block's output is
# renormalised to the batch statistics $\gamma = 1$, $\beta = 0$ before the ReLU, so the changes
# cannot compound.
#
# Here is the measurement, written out: build the net, record each block's mean channel variance,
# take one full-batch step of `STEP_LR`, record again, divide.

# %%
# The default protocol of bjorck.activation_growth(rng=SEED): one generator draws the batch of
# procedural images, then the seed of the nets' weights; the output layer has one unit per class
# present in the labels. Replayed here, so both see the same nets.
gen = np.random.default_rng(SEED)
Xb, yb = shapes(BATCH, size=16, rng=gen)
net_seed = int(gen.integers(0, 2**31))
classes = int(yb.max()) + 1


def stepped_net(norm, lr):
    """The deep plain CNN after one full-batch SGD step of size lr (lr = 0: at initialisation)."""
    net = bjorck.deep_plain_cnn(DEPTH, WIDTH, num_classes=classes, norm=norm, rng=net_seed)
    _, dlogits = F.softmax_cross_entropy(net.forward(Xb), yb)
    net.backward(dlogits)
    for _, p, g in net.named_parameters():
        p -= lr * g
    return net


def block_variances(net):
    """Mean channel variance of each block's ReLU output on the batch Xb, shape (DEPTH,)."""
    v, h = [], Xb
    for name, layer in net.named_layers():
        h = layer.forward(h)
        if name.startswith("relu"):
            v.append(h.var(axis=(0, 2, 3)).mean())
    return np.array(v)


def relative_variance(lr):
    """v_l after the step over v_l before it, rows (no BN, BN), shape (2, DEPTH)."""
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # exploding nets are data
        return np.array([block_variances(stepped_net(norm, lr))
                         / block_variances(stepped_net(norm, 0.0)) for norm in (False, True)])


rel = relative_variance(STEP_LR)
growth = bjorck.activation_growth(depth=DEPTH, width=WIDTH, fractions=np.linspace(0, 1, 5),
                                  lr=STEP_LR, n=BATCH, rng=SEED)
# Same layers, same arithmetic in the same order: equal up to rounding (1e-9 leaves room for a
# BLAS that sums in another order; the ratios span many decades, hence relative).
assert np.allclose(rel, growth.relative_variance()[:, -1], rtol=1e-9, equal_nan=True)
print("hand-written step and bjorck.activation_growth agree")
print(growth.summary())
blocks = np.arange(1, DEPTH + 1)
for k, lab in enumerate(("no BN", "BN")):
    rate = np.polyfit(blocks, np.log(rel[k]), 1)[0]
    print(f"{lab:>5}: log10 relative variance per block {np.round(np.log10(rel[k]), 2).tolist()}"
          f"\n       fitted change per block: x{np.exp(rate):.3g}")
ax = plot_activation_growth(growth)
plt.show()

# %% [markdown]
# Read the printed rows. Without BatchNorm the log relative variance drifts further from zero the
# deeper the block: each block multiplies the change by its own factor, the product of the
# derivation, and the fitted factor per block summarises them. With BatchNorm it stays near zero
# at every depth.
#
# ## 3. Gradients that no longer depend on the input
#
# Split the batch gradient of a weight into the examples' contributions, $g = \sum_n g_n$. lmsbn
# measures how much they agree by
#
# $$
# a = \frac{\big|\sum_n g_n\big|}{\sum_n |g_n|} \in [0, 1],
# $$
#
# averaged over the layer's weights: $a = 1$ when every example pushes the weight the same way
# (the gradient no longer depends on which input it saw); about $1/\sqrt{N}$ for independent
# signs. For the *last* conv layer the split is cheap: one forward pass, then for each example
# a backward pass through the layers from the last conv on only, with the other examples' rows of
# $\partial L/\partial\,\mathrm{logits}$ zeroed (backprop is linear in it, so the rows sum to the
# batch gradient).


# %%
def last_conv_agreement(net):
    """Agreement a of the last conv layer's per-example gradients on the batch (Xb, yb)."""
    _, dlogits = F.softmax_cross_entropy(net.forward(Xb), yb)
    names = [name for name, _ in net.named_layers()]
    last_conv = max(i for i, name in enumerate(names) if name.startswith("conv"))
    tail = list(net)[last_conv:]                     # conv, [BN,] ReLU, global pool, linear
    rows = []
    for i in range(BATCH):
        d = np.zeros_like(dlogits)
        d[i] = dlogits[i]
        for layer in reversed(tail):
            d = layer.backward(d)
        rows.append(tail[0].grads["weight"].ravel().copy())
    g_n = np.array(rows)
    denom = np.abs(g_n).sum(axis=0)
    ok = denom > 0                                   # weights no example reaches carry no sign
    return float(np.mean(np.abs(g_n.sum(axis=0))[ok] / denom[ok]))


stats = {}
for lr in (0.0, STEP_LR):
    stats[lr] = bjorck.gradient_statistics(depth=DEPTH, width=WIDTH, n=BATCH, size=16, lr=lr,
                                           rng=SEED)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        mine = [last_conv_agreement(stepped_net(norm, lr)) for norm in (False, True)]
    # The per-example rows come from the same layers' backward passes: rounding only.
    assert np.allclose(mine, stats[lr].agreement[:, -1], rtol=1e-9, equal_nan=True)
    print(stats[lr].summary())
    print(f"  last conv, by hand: agreement no BN {mine[0]:.3f}, BN {mine[1]:.3f} "
          f"(1/sqrt(N) = {1 / np.sqrt(BATCH):.3f})")
for lr, s in stats.items():
    print(f"lr {lr:g}: mean over layers, agreement no BN {np.nanmean(s.agreement[0]):.2f}, "
          f"BN {np.nanmean(s.agreement[1]):.2f}; excess kurtosis no BN "
          f"{np.nanmedian(s.kurtosis[0]):.1f}, BN {np.nanmedian(s.kurtosis[1]):.1f} (median)")
ax = plot_gradient_histograms(stats[0.0], layer=-1)
ax.set_title("Last conv layer's gradient entries at initialisation")
plt.show()

# %% [markdown]
# At initialisation He scaling keeps the plain net's activations at scale, and the heavy tails
# (large excess kurtosis; 0 for a Gaussian) already show. After the large step of section 2 the
# plain net's outputs are dominated by a few exploded channels, and its agreement moves toward
# 1; BatchNorm's stays near the independent-sign level. How far each moves depends on the seed
# and the depth: read the printed numbers.
#
# ## 4. Products of random matrices
#
# Without the ReLU masks a deep linear net is a product $M_L \cdots M_1$. Let the $M_l$ be
# i.i.d. $n\times n$ with entries $N(0, 1/n)$. Carry an orthonormal frame through the product,
# $Q_l R_l = M_l Q_{l-1}$ (QR), and add up $S_k = \sum_l \ln|(R_l)_{kk}|$: these are the log
# singular values of the product, computed without ever forming it. Because $M_l Q_{l-1}$ is again
# Gaussian, $n R_{kk}^2 \sim \chi^2_{n-k+1}$ (Bartlett), and $E\ln\chi^2_m = \ln 2 + \psi(m/2)$.
# So each factor adds, on average, the **Lyapunov exponent**
#
# $$
# \lambda_k = \tfrac12\Big[\ln 2 + \psi\big(\tfrac{n-k+1}{2}\big)\Big] - \tfrac12\ln n,
# \qquad \ln\kappa(M_L\cdots M_1) \approx L\,(\lambda_1 - \lambda_n).
# $$
#
# For even $n$, $\psi(m) = H_{m-1} - \gamma_E$ and $\psi(\tfrac12) = -\gamma_E - 2\ln 2$ give
# $\lambda_1 - \lambda_n = \tfrac12\big(H_{n/2-1} + 2\ln 2\big)$ with harmonic numbers only.
# The log condition number grows *linearly* in depth: the condition number exponentially.

# %%
rng = np.random.default_rng(SEED)
log_cond = np.zeros((TRIALS, MATRIX_DEPTH))
for t in range(TRIALS):
    Q, S = np.eye(N_MATRIX), np.zeros(N_MATRIX)
    for depth in range(MATRIX_DEPTH):
        M = rng.standard_normal((N_MATRIX, N_MATRIX)) / np.sqrt(N_MATRIX)
        Q, R = np.linalg.qr(M @ Q)
        S += np.log(np.abs(np.diag(R)))
        log_cond[t, depth] = S[0] - S[-1]
gap = 0.5 * (sum(1 / k for k in range(1, N_MATRIX // 2)) + 2 * np.log(2))

prod = bjorck.random_matrix_products(N_MATRIX, MATRIX_DEPTH, TRIALS, rng=SEED)
lam = bjorck.lyapunov_exponents(N_MATRIX)
# The same draws in the same order through the same QR: identical up to rounding.
assert np.allclose(log_cond, prod.log_cond, rtol=1e-12, atol=1e-12)
# Harmonic sum against the digamma series (accurate to ~1e-15): rounding only.
assert abs(gap - (lam[0] - lam[-1])) < 1e-12
print(f"lambda_1 - lambda_{N_MATRIX}: {gap:.4f} from harmonic numbers, "
      f"{lam[0] - lam[-1]:.4f} from bjorck.lyapunov_exponents")
print(prod.summary())
ax = plot_condition_growth(prod)
plt.show()

# %% [markdown]
# ## Exercises
#
# Each answer is computed by the cell after the exercise; try it yourself first.
#
# **1.** Repeat section 2 with a moderate step, `lr=1.0`. Do the deep activations still grow, and
# is the change still exponential in depth?
#
# <details><summary>Answer</summary>
#
# The cell below prints the log relative variance per block and the fitted factor per block.
# Whether a moderate step makes the gains larger or smaller than one depends on the seed; either
# way the per-block factors multiply, so the change is exponential in depth — upward or downward.
# BatchNorm's row stays near zero.
# </details>

# %% tags=["hide-input"]
rel_1 = relative_variance(1.0)
for k, lab in enumerate(("no BN", "BN")):
    rate = np.polyfit(blocks, np.log(rel_1[k]), 1)[0]
    print(f"answer 1: {lab:>5}, lr 1: log10 relative variance "
          f"{np.round(np.log10(rel_1[k]), 2).tolist()}, "
          f"fitted change per block x{np.exp(rate):.3g}")

# %% [markdown]
# **2.** Compute $\lambda_1 - \lambda_n$ for $n = 4, 16, 64, 256$. How does the gap grow with
# $n$?
#
# <details><summary>Answer</summary>
#
# With $\psi(x) \approx \ln x$ for large $x$, $\lambda_1 - \lambda_n \approx
# \tfrac12[\ln(n/2) - \psi(\tfrac12)] = \tfrac12\ln n + \tfrac12(\ln 2 + \gamma_E)$: it grows like
# $\tfrac12 \ln n$, i.e. by $\ln 2 \approx 0.69$ each time $n$ is multiplied by 4. The cell below
# prints the exact gaps next to that asymptote.
# </details>

# %% tags=["hide-input"]
EULER = 0.5772156649015329
for n in (4, 16, 64, 256):
    lam_n = bjorck.lyapunov_exponents(n)
    asymptote = 0.5 * np.log(n) + 0.5 * (np.log(2) + EULER)
    print(f"answer 2: n = {n:>3}: lambda_1 - lambda_n = {lam_n[0] - lam_n[-1]:.4f}, "
          f"asymptote 0.5 ln n + 0.5 (ln 2 + gamma_E) = {asymptote:.4f}")

# %% [markdown]
# **3.** In float64 the condition number of a matrix can be resolved up to about
# $1/\epsilon \approx 4.5\times10^{15}$. After how many factors does the product of section 4 pass
# it? Check by forming the product explicitly and calling `np.linalg.cond`.
#
# <details><summary>Answer</summary>
#
# $L^* = \ln(1/\epsilon)/(\lambda_1 - \lambda_n)$. Beyond it the explicitly formed product's
# computed condition number stops tracking $e^{L(\lambda_1-\lambda_n)}$ and saturates near
# $1/\epsilon$ — which is why section 4 never forms the product. The cell below prints $L^*$ and
# the explicit product's condition number before and after it.
# </details>

# %% tags=["hide-input"]
L_star = np.log(1 / np.finfo(float).eps) / gap
rng3 = np.random.default_rng(SEED)
P = np.eye(N_MATRIX)
explicit = []
for _ in range(int(2 * L_star)):
    P = rng3.standard_normal((N_MATRIX, N_MATRIX)) / np.sqrt(N_MATRIX) @ P
    explicit.append(np.log(np.linalg.cond(P)))
for L in (int(L_star) // 2, int(L_star), int(2 * L_star)):
    print(f"answer 3: L* = {L_star:.1f} factors; at L = {L:>2}: ln cond of the explicit product "
          f"{explicit[L - 1]:5.1f}, Lyapunov prediction {L * gap:5.1f}, ln(1/eps) "
          f"{np.log(1 / np.finfo(float).eps):.1f}")

# %% [markdown]
# **4.** Train the plain `small_cnn` of section 1 at each rate of `LR_GRID`. At which rate is its
# final loss lowest, and at which does it first diverge? Compare with the stability bound
# $2/\lambda_{max}$ of the Gauss-Newton matrix at initialisation (`bridge.stability_bound`), for
# both nets.
#
# <details><summary>Answer</summary>
#
# The cell below prints the table and both bounds. The plain net's bound at initialisation is far
# below BatchNorm's — BatchNorm's larger learning rate in the language of tutorial 1. The plain
# net usually survives rates well above its initial bound: its first large steps shrink the sharp
# direction (ReLU units die, outputs shrink) and training continues at a flatter point, without
# learning much. $2/\lambda_{max}$ is a statement about the quadratic model at the start, not
# about the whole run.
# </details>

# %% tags=["hide-input"]
seed_w, seed_t = (int(s) for s in np.random.default_rng(SEED).integers(0, 2**31, size=2))
final = {}
for lr in LR_GRID:                # the protocol of same_lr_comparison: its seeds, its window
    hist = train(small_cnn(3, int(y.max()) + 1, (8, 16), "none", rng=seed_w), X, y, steps=STEPS,
                 batch_size=32, lr=lr, rng=seed_t)
    final[lr] = np.inf if hist.diverged else float(np.mean(hist.loss[-min(20, STEPS):]))
    print(f"answer 4: plain net, lr {lr:<5g}: " + ("diverged" if hist.diverged
                                                 else f"final loss {final[lr]:.3f}"))
best = min(final, key=final.get)
first_div = min((lr for lr in LR_GRID if not np.isfinite(final[lr])), default=None)
print(f"answer 4: lowest final loss at lr {best:g}; first divergence at "
      + (f"lr {first_div:g}" if first_div else f"none up to {max(LR_GRID):g}"))
for norm in ("none", "full"):
    sb = stability_bound(small_cnn(3, int(y.max()) + 1, (8, 16), norm, rng=seed_w), X[:32], y[:32],
                         per_layer=False, iters=30, rng=SEED)
    print(f"answer 4: {'no BN' if norm == 'none' else 'BN':>5}: Gauss-Newton lambda_max at "
          f"initialisation {sb.lambda_max:.4g}, 2/lambda_max = {sb.lr_max:.4g}")
