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
# # Tutorial 3 — im2col: a convolution layer is an adaptive filter
#
# **Motivation.** Tutorials 1 and 2 analysed a filter through the eigenvalues of its input
# autocorrelation $R$. To carry that analysis into a CNN we need a convolution layer to *be* a
# linear combiner with regressors and weights. The trick that makes fast convolutions fast —
# **im2col**, which copies every receptive-field patch into one row of a matrix — is exactly what
# exposes those regressors. In this tutorial you will
#
# 1. build im2col and check it against a loop ("naive") twin;
# 2. see that the tapped delay line of tutorial 1 *is* the im2col of a one-channel `Conv1d`;
# 3. prove numerically that training that `Conv1d` by SGD on a mean-squared error **is** block
#    LMS, weight for weight, step for step;
# 4. compute the autocorrelation $R$ of a 2-D conv layer and look at its channel blocks.

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn import bridge, filters, spectral
from lmsbn.data import shapes
from lmsbn.filters import signals
from lmsbn.nn import SGD, Conv1d, Conv2d, Sequential
from lmsbn.nn import functional as F
from lmsbn.plot import plot_channel_blocks

# %% tags=["parameters"]
TAPS = 6
BLOCK = 16
SIGNAL_LEN = 8000  # test: 640
LR = 0.05
N_IMAGES = 512  # test: 64
SEED = 0

# %% [markdown]
# ## 1. im2col
#
# A conv layer with $F$ filters of shape $(C, k_h, k_w)$ computes, at every output position,
# the dot product of each filter with the input patch under it. Stack the patches as rows of
# $U$ (one row per batch item and output position, $M = N H_o W_o$ rows, $K = C k_h k_w$
# columns) and the filters as rows of $W$ ($F \times K$): the whole layer is one matrix product
#
# $$
# Y = U\, W^T \qquad (M \times F).
# $$
#
# Here is im2col of a tiny one-channel $4 \times 4$ image with a $2 \times 2$ kernel, and the
# check against the loop twin that a student can step through:

# %%
x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
cols = F.im2col2d(x, 2, 2)
print(x[0, 0], "\n\nim2col rows (one per output position):\n", cols)
rng = np.random.default_rng(SEED)
xb, wb = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 3))
fast, naive = F.im2col2d(xb, 3, 3, stride=2, pad=1), F.im2col2d_naive(xb, 3, 3, stride=2, pad=1)
print("im2col == naive twin:", np.array_equal(fast, naive))

# %% [markdown]
# ### Stepping through the library's convolution
#
# `Conv2d.forward` calls `F.conv2d_forward`, and that function is the three steps below (open
# `lmsbn/nn/conv.py`, or step into `Conv2d.forward` in a debugger: `im2col2d` is two frames
# down). The product is written as its transpose, $Y^T = W U^T$, because that is the memory
# layout `im2col2d` returns. The library does step 2 image by image, $Y_n^T = W U_n^T$, in one
# broadcast `np.matmul`: the rows of $U$ run over images first, so the per-image products land
# directly in the (N, F, Ho, Wo) layout and step 3's transpose-copy disappears (same
# arithmetic, faster; see the README's Benchmarks). The backward pass is two more products and
# a `col2im2d`:
#
# $$
# \mathrm{d}W = \mathrm{d}Y^T U, \qquad \mathrm{d}x = \operatorname{col2im}(\mathrm{d}Y\, W).
# $$
#
# Both `im2col2d` and `col2im2d` are looked up in `lmsbn.nn.im2col` at every call, so
# `with lmsbn.use(im2col2d=mine, col2im2d=mine2): train(...)` trains through your own versions
# (homework 2).

# %%
F_out = wb.shape[0]
U = F.im2col2d(xb, 3, 3, pad=1)                                      # 1. regressors, (M, K)
Yt = wb.reshape(F_out, -1) @ U.T                                     # 2. Y^T = W U^T, (F, M)
out_steps = Yt.reshape(F_out, 2, 7, 6).transpose(1, 0, 2, 3)         # 3. (N, F, Ho, Wo)
Ut_per_image = U.T.reshape(-1, 2, 7 * 6).transpose(1, 0, 2)          # U_n^T, (N, K, Ho*Wo)
out_per_image = np.matmul(wb.reshape(F_out, -1), Ut_per_image)       # 2'. the library's step 2
out, cache = F.conv2d_forward(xb, wb, pad=1)
print("three steps == conv2d_forward:", np.allclose(out_steps, out))
print("per-image products == conv2d_forward:", np.allclose(out_per_image.reshape(out.shape), out))
print("the cache keeps U (the layer's regressors):", np.array_equal(cache.cols, U))

dout = rng.normal(size=out.shape)
dx, dw, _ = F.conv2d_backward(dout, cache)
dYt = dout.transpose(1, 0, 2, 3).reshape(F_out, -1)                  # dY^T, (F, M)
print("dW == dY^T U:", np.allclose(dw.reshape(F_out, -1), dYt @ U))
print("dx == col2im(dY W):",
      np.allclose(dx, F.col2im2d(dYt.T @ wb.reshape(F_out, -1), xb.shape, 3, 3, pad=1)))
print("and against the loop twins:",
      np.allclose(out, F.conv2d_forward_naive(xb, wb, pad=1)[0]))

# %% [markdown]
# ## 2. The tapped delay line is the im2col of a one-channel Conv1d
#
# For a signal $x$, im2col with kernel length $K$ and $K-1$ zeros of padding on the left has
# rows $[x(n-K+1), \dots, x(n)]$ — **oldest sample first**, because a conv layer computes a
# cross-correlation that slides forward in time. The tapped delay line of an adaptive filter
# lists the **newest sample first**, $u(n) = [x(n), \dots, x(n-K+1)]$. So the two are the same
# matrix with the columns reversed, and a conv kernel $k$ and a filter $w$ describe the same map
# when $w = k[::-1]$. Forgetting this flip is the classic bug.

# %%
sig = signals.ar1(12, 0.8, rng=SEED)
U_filter = signals.tapped_delay_line(sig, TAPS)                        # (T, K), newest first
U_conv = F.im2col1d(np.pad(sig, (TAPS - 1, 0))[None, None], TAPS)       # (T, K), oldest first
print("delay line == im2col with the columns reversed:", np.allclose(U_filter, U_conv[:, ::-1]))

# %% [markdown]
# ## 3. SGD on a Conv1d is block LMS
#
# Feed a one-channel `Conv1d` (no bias) blocks of $L$ samples of a signal, compare its output
# with a desired response $d$ through the half mean-squared error
# $\mathcal{L} = \frac{1}{2L}\sum_{n} e(n)^2$, and take an SGD step. The gradient of the
# loss with respect to the flattened kernel is $-\frac1L U_b^T e_b$, so
#
# $$
# k \leftarrow k - \eta\, \nabla_k \mathcal{L} = k + \frac{\eta}{L}\, U_b^T e_b ,
# $$
#
# which is the block-LMS update with $\mu = \eta$ — and the back-propagated gradient
# $\partial\mathcal{L}/\partial Y = -e/L$ plays the role of the error. Below, the network side
# uses only the library's `Conv1d`, `mse_loss` and `SGD`; the filter side is `BlockLMS`. We
# compare the weights after **every** step.

# %%
plant = np.array([1.0, -0.6, 0.3, 0.2, -0.1, 0.05])[:TAPS]
n_blocks = SIGNAL_LEN // BLOCK
x = signals.ar1(n_blocks * BLOCK, 0.8, rng=SEED)
noise = 0.05 * np.random.default_rng(SEED + 1).normal(size=x.shape)
d = signals.tapped_delay_line(x, TAPS) @ plant + noise               # the unknown system's output

conv = Conv1d(1, 1, TAPS, bias=False, rng=SEED)                      # random (He) initial kernel
model = Sequential(conv)
opt = SGD(model.named_parameters(), lr=LR)
lms = filters.BlockLMS(TAPS, LR, BLOCK, w0=conv.params["weight"][0, 0, ::-1].copy())
hist = lms.run(signals.tapped_delay_line(x, TAPS), d)                 # all blocks at once

x_pad = np.pad(x, (TAPS - 1, 0))                                     # zero initial state
worst, losses = 0.0, []
for b in range(n_blocks):
    window = x_pad[b * BLOCK: b * BLOCK + BLOCK + TAPS - 1]           # block + K-1 past samples
    y = model.forward(window[None, None, :])                          # (1, 1, BLOCK)
    loss, dy = F.mse_loss(y, d[None, None, b * BLOCK:(b + 1) * BLOCK])
    model.zero_grad()
    model.backward(dy)
    opt.step()
    losses.append(loss)
    w_filter = hist.w_history[(b + 1) * BLOCK]                        # block LMS after block b
    worst = max(worst, np.max(np.abs(conv.params["weight"][0, 0, ::-1] - w_filter)))
print(f"{n_blocks} SGD steps; largest |conv kernel (flipped) - block-LMS weights| = {worst:.2e}")
print("final kernel, flipped:", np.round(conv.params["weight"][0, 0, ::-1], 3))
print("the plant            :", plant)

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.semilogy(losses, label="Conv1d + SGD (loss per block)")
ax.semilogy(0.5 * np.mean(hist.e[: n_blocks * BLOCK].reshape(n_blocks, BLOCK) ** 2, axis=1),
            "--", label="BlockLMS (half mean-square error per block)")
ax.set(xlabel="block (SGD step)", ylabel="loss", title="The same learning curve, twice")
ax.legend()
plt.show()

# %% [markdown]
# The two curves lie on top of each other: the agreement is to rounding error (the printed
# maximum difference), not approximate. Everything tutorial 1 said about LMS — natural modes,
# $2/\lambda_{max}$, eigenvalue spread — applies *exactly* to a conv layer feeding an MSE loss.
#
# ## 4. The autocorrelation of a 2-D conv layer
#
# For a `Conv2d` the regressors are the im2col rows of its input, and the layer's input
# autocorrelation is
#
# $$
# R = \frac{1}{M}\, U^T U \qquad (K \times K,\; K = C_{in}\, k_h k_w),
# $$
#
# one matrix per layer, shared by all its filters. Ordering the columns by channel makes $R$ a
# $C_{in} \times C_{in}$ grid of $(k_h k_w) \times (k_h k_w)$ blocks; diagonal block $c$ is
# channel $c$'s spatial autocorrelation, with trace $\approx k_h k_w\, E[x_c^2]$. The
# library's procedural images have deliberately unequal colour channels:

# %%
X, labels = shapes(N_IMAGES, rng=SEED)                                 # (N, 3, 16, 16)
layer = Conv2d(3, 8, 3, padding=1, rng=SEED)
U = bridge.regressors(layer, X)                                       # (N*16*16, 27)
spec = spectral.Spectrum.from_regressors(U)
blocks = spectral.channel_blocks(spec.R, 3, (3, 3))
print(f"U: {U.shape}; R: {spec.R.shape}; spread = {spec.spread:.3g}; "
      f"lambda_max = {spec.lambda_max:.3g}, lambda_min = {spec.lambda_min:.3g}")
for c in range(3):
    print(f"channel {c}: block trace {blocks.powers[c]:8.3f}   "
          f"9 * E[x_c^2] = {9 * np.mean(X[:, c] ** 2):8.3f}")
ax = plot_channel_blocks(spec, 3, (3, 3))
ax.set_title("Channel blocks of R (first conv layer)")
plt.show()

# %% [markdown]
# The block traces follow the channel powers (a little below $9 E[x_c^2]$ because of the zero
# padding at the borders). One channel dominates $\operatorname{tr} R$ and hence
# $\lambda_{max}$, while the weak channel contributes the smallest eigenvalues: a large spread,
# born from nothing more than unequal channel scales. Tutorial 5 shows what BatchNorm does to it.
#
# ## Exercises
#
# **1.** Remove the flip (`conv.params["weight"][0, 0]` instead of `[..., ::-1]`) in the
# comparison of section 3. What is the largest difference now, and why is it not zero even at
# step 0?
#
# <details><summary>Answer</summary>
#
# The initial kernel and its reverse differ, so the comparison fails from the very first block
# (the difference is of the order of the weights themselves). Only a symmetric kernel would be
# its own reverse.
# </details>
#
# **2.** Use `F.conv1d_backward` and the cache of `F.conv1d_forward` to show that the weight
# gradient equals $dY^T U$ with $U$ = `F.im2col1d(...)`. Which shape does $dY$ need?
#
# <details><summary>Answer</summary>
#
# `out, cache = F.conv1d_forward(xs, k)`; `dx, dk, db = F.conv1d_backward(g, cache)`;
# `U = F.im2col1d(xs, k.shape[-1])`. Reshape `g` from (N, F, Lo) to rows ordered like $U$:
# `g.transpose(0, 2, 1).reshape(-1, F)`. Then `dk.reshape(F, -1)` equals `g_rows.T @ U`.
# </details>
#
# **3.** Change `BLOCK` to 1. Which classical filter is the Conv1d now? What happens to the
# learning curve's noise for a larger `BLOCK` at the same `LR`?
#
# <details><summary>Answer</summary>
#
# With `BLOCK = 1` each SGD step uses one sample: plain LMS. Larger blocks average the gradient
# over $L$ samples: the mean dynamics (and the bound $2/\lambda_{max}$) are the same *per step*,
# but the gradient noise and hence the misadjustment drop by about a factor $L$.
# </details>
