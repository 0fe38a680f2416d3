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
# # Homework 2 — im2col, col2im and a convolution layer you wrote yourself
#
# A convolution layer is an adaptive linear combiner: **im2col** copies every patch the kernel
# sees into one row of a patch matrix $U$ (the layer's *regressors*), and the whole layer becomes
# one matrix product. You will write the four functions of a convolution layer, check each one,
# and then train a small CNN with *your* code inside it.
#
# For an input $x$ of shape $(N, C, H, W)$, a kernel $k_h \times k_w$, stride $s$ and zero
# padding $p$:
#
# $$
# H_o = \left\lfloor \frac{H + 2p - k_h}{s} \right\rfloor + 1, \qquad
# U_{(n, h_o, w_o),\,(c, i, j)} = x^{\mathrm{pad}}_{n,\, c,\, h_o s + i,\, w_o s + j}.
# $$
#
# Rows are ordered $(n, h_o, w_o)$ and columns $(c, i, j)$ — the order of
# `w.reshape(F, C * kh * kw)` — so the convolution with weights $w$ of shape $(F, C, k_h, k_w)$
# is $Y = U W^\top$ and its gradients are
#
# $$
# \mathrm{d}W = \mathrm{d}Y^\top U, \qquad \mathrm{d}U = \mathrm{d}Y\, W, \qquad
# \mathrm{d}x = \operatorname{col2im}(\mathrm{d}U), \qquad
# \mathrm{d}b = \textstyle\sum_m \mathrm{d}Y_{m,:}.
# $$
#
# Each check cell runs your function on random cases and compares it with the library
# (`lmsbn.nn.functional`). A failure says which output, which index, and the case's shapes.

# %% tags=["parameters"]
STEPS = 30  # test: 6
SEED = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn.data import shapes
from lmsbn.homework import check_col2im, check_conv_backward, check_conv_forward, check_im2col, use
from lmsbn.nn import small_cnn
from lmsbn.train import train

# %% [markdown] question="im2col" points=3
# ## Exercise 1 — im2col
#
# Write `im2col(x, kh, kw, stride=1, pad=0)` returning the patch matrix of shape
# $(N H_o W_o,\ C k_h k_w)$ in the dtype of `x`. Hint: pad once with `np.pad`, then loop over the
# $k_h k_w$ kernel offsets $(i, j)$; each offset fills one column of every channel at once.

# %%
def im2col(x, kh, kw, stride=1, pad=0):
    """Patch matrix (N*Ho*Wo, C*kh*kw) of x (N, C, H, W); rows (n, ho, wo), columns (c, i, j)."""
    N, C, H, W = x.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    # BEGIN SOLUTION
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    patches = np.empty((N, C, kh, kw, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            # Output pixel (ho, wo) reads xp[ho * stride + i, wo * stride + j].
            patches[:, :, i, j] = xp[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]
    cols = patches.transpose(0, 4, 5, 1, 2, 3).reshape(N * Ho * Wo, C * kh * kw)
    # END SOLUTION
    return cols


# %%
print(check_im2col(im2col))
# BEGIN HIDDEN TESTS
print(check_im2col(im2col, hidden=True))
# END HIDDEN TESTS

# %% [markdown] question="col2im" points=3
# ## Exercise 2 — col2im
#
# `col2im(cols, x_shape, kh, kw, stride=1, pad=0)` is the **transpose** of im2col, not its
# inverse: every entry of `cols` is *added* back into the pixel it was copied from (pixels seen by
# several patches receive several contributions), and entries that came from the padding are
# dropped. It is how the gradient flows back through im2col.

# %%
def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """Adjoint of im2col: cols (N*Ho*Wo, C*kh*kw) -> dx of shape x_shape (N, C, H, W)."""
    N, C, H, W = x_shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    # BEGIN SOLUTION
    patches = cols.reshape(N, Ho, Wo, C, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride] += patches[:, :, i, j]
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    # END SOLUTION
    return dx


# %%
print(check_col2im(col2im))
# BEGIN HIDDEN TESTS
print(check_col2im(col2im, hidden=True))
# END HIDDEN TESTS

# %% [markdown] question="conv_forward" points=2
# ## Exercise 3 — the forward pass
#
# `conv_forward(x, w, b=None, stride=1, pad=0) -> (out, cache)` with `out` of shape
# $(N, F, H_o, W_o)$. `b` is `None` for a convolution followed by BatchNorm (the centring would
# cancel a bias). Keep in `cache` whatever your backward pass needs.

# %%
def conv_forward(x, w, b=None, stride=1, pad=0):
    """Convolution (cross-correlation) of x (N, C, H, W) with w (F, C, kh, kw) through im2col."""
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    # BEGIN SOLUTION
    cols = im2col(x, kh, kw, stride=stride, pad=pad)              # U, (N*Ho*Wo, K)
    Y = cols @ w.reshape(F, -1).T                                  # (N*Ho*Wo, F)
    if b is not None:
        Y = Y + b
    out = Y.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2)
    cache = (x.shape, cols, w, b is not None, stride, pad)
    # END SOLUTION
    return out, cache


# %%
print(check_conv_forward(conv_forward))
# BEGIN HIDDEN TESTS
print(check_conv_forward(conv_forward, hidden=True))
# END HIDDEN TESTS

# %% [markdown] question="conv_backward" points=2
# ## Exercise 4 — the backward pass
#
# `conv_backward(dout, cache) -> (dx, dw, db)`, with `db = None` when the forward pass had no
# bias. Use the three products above and your `col2im`.

# %%
def conv_backward(dout, cache):
    """Gradients (dx, dw, db) of conv_forward, given dout = dL/d(out) of shape (N, F, Ho, Wo)."""
    # BEGIN SOLUTION
    x_shape, cols, w, has_bias, stride, pad = cache
    F, _, kh, kw = w.shape
    dY = dout.transpose(0, 2, 3, 1).reshape(-1, F)                 # (N*Ho*Wo, F)
    dw = (dY.T @ cols).reshape(w.shape)
    db = dY.sum(axis=0) if has_bias else None
    dx = col2im(dY @ w.reshape(F, -1), x_shape, kh, kw, stride=stride, pad=pad)
    # END SOLUTION
    return dx, dw, db


# %%
print(check_conv_backward(conv_backward, conv_forward))
# BEGIN HIDDEN TESTS
print(check_conv_backward(conv_backward, conv_forward, hidden=True))
# END HIDDEN TESTS

# %% [markdown]
# ## Your layer inside a network
#
# `use(...)` swaps your functions into `lmsbn.nn.functional` for the `with` block, so every
# `Conv2d` of the model runs *your* forward and backward pass. With the same seed the training
# must follow the library's run to round-off: the two loss curves coincide.

# %%
X, y = shapes(512, rng=SEED)
runs = {}
for who in ("library", "yours"):
    model = small_cnn(norm="none", widths=(8, 16), rng=SEED)
    if who == "yours":
        with use(conv2d_forward=conv_forward, conv2d_backward=conv_backward):
            runs[who] = train(model, X, y, steps=STEPS, batch_size=32, lr=0.05, rng=SEED)
    else:
        runs[who] = train(model, X, y, steps=STEPS, batch_size=32, lr=0.05, rng=SEED)
gap = np.max(np.abs(runs["yours"].loss - runs["library"].loss))
print(f"largest loss difference over {STEPS} steps: {gap:.2e}")
assert gap < 1e-8, "your convolution trains differently from the library's"

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(runs["library"].loss, lw=3, alpha=0.5, label="library conv")
ax.plot(runs["yours"].loss, "--", label="your conv")
ax.set_xlabel("SGD step")
ax.set_ylabel("minibatch cross-entropy")
ax.set_title("small_cnn trained with your convolution")
ax.legend()

# %% [markdown] question="col2im_adds" points=2 manual=true
# ## Question
#
# Why must `col2im` *add* overlapping contributions instead of overwriting them? Answer with the
# chain rule, in two or three sentences.
#
# <!-- BEGIN SOLUTION -->
# A pixel of $x$ is copied into every patch that covers it, so it influences the loss through
# each of those copies. The chain rule sums the gradients of all paths from the pixel to the
# loss, so the pixel's gradient is the sum of the gradients of its copies; overwriting would keep
# only one path. Equivalently, col2im is the transpose of the linear map im2col, and
# $\langle \operatorname{im2col}(x), U\rangle = \langle x, \operatorname{col2im}(U)\rangle$.
# <!-- END SOLUTION -->
