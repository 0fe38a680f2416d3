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
# # Homework 1 — LMS and NLMS, one step at a time
#
# An FIR filter with $K$ taps sees the regressor $u(n) = [x(n), \dots, x(n-K+1)]^\top$, outputs
# $w(n)^\top u(n)$ and compares it with the desired sample $d(n)$. Both filters use the
# *a-priori* error $e(n) = d(n) - w(n)^\top u(n)$:
#
# $$
# \text{LMS:}\quad w(n+1) = w(n) + \mu\, e(n)\, u(n), \qquad
# \text{NLMS:}\quad w(n+1) = w(n) + \frac{\tilde\mu\, e(n)}{\epsilon + \|u(n)\|^2}\, u(n).
# $$
#
# LMS converges in the mean for $0 < \mu < 2/\lambda_{\max}(R)$ with $R = E[u u^\top]$, so
# its usable step depends on the input power; NLMS divides by the input energy and is stable for
# $0 < \tilde\mu < 2$ whatever the input's scale. BatchNorm does the same kind of normalisation
# for a layer of a network — the subject of the tutorials.

# %% tags=["parameters"]
T = 2000  # test: 300
SEED = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn import filters
from lmsbn.filters import signals
from lmsbn.homework import check_lms_step, check_nlms_step

# %% [markdown] question="lms_step" points=5
# ## Exercise 1 — one LMS step
#
# `lms_step(w, u, d, mu) -> (w_next, e)` with `w`, `u` of shape $(K,)$, `d` and `mu` floats, and
# `e` the a-priori error (a float). Do not modify `w` in place.

# %%
def lms_step(w, u, d, mu):
    """One LMS update; returns the new weights and the a-priori error."""
    # BEGIN SOLUTION
    e = d - w @ u
    w_next = w + mu * e * u
    # END SOLUTION
    return w_next, e


# %%
print(check_lms_step(lms_step))
# BEGIN HIDDEN TESTS
print(check_lms_step(lms_step, hidden=True))
# END HIDDEN TESTS

# %% [markdown] question="nlms_step" points=5
# ## Exercise 2 — one NLMS step
#
# `nlms_step(w, u, d, mu, eps) -> (w_next, e)`. Mind the square in $\|u\|^2$ and keep
# $\epsilon$: it is what makes a zero regressor harmless.

# %%
def nlms_step(w, u, d, mu, eps):
    """One NLMS update; returns the new weights and the a-priori error."""
    # BEGIN SOLUTION
    e = d - w @ u
    w_next = w + mu * e * u / (eps + u @ u)
    # END SOLUTION
    return w_next, e


# %%
print(check_nlms_step(nlms_step))
# BEGIN HIDDEN TESTS
print(check_nlms_step(nlms_step, hidden=True))
# END HIDDEN TESTS

# %% [markdown]
# ## Your filters on a system-identification problem
#
# An unknown 8-tap FIR plant is driven by a coloured AR(1) input ($a = 0.8$) plus a little
# observation noise. Your two step functions run sample by sample; the library's `LMS` and
# `NLMS` run the same data and must produce the same errors.

# %%
K, MU_LMS, MU_NLMS, EPS = 8, 0.02, 0.5, 1e-6
rng = np.random.default_rng(SEED)
plant = rng.standard_normal(K)
U = signals.tapped_delay_line(signals.ar1(T, 0.8, rng=rng), K)
d = U @ plant + 0.01 * rng.standard_normal(T)


def run(step, U, d, *args):
    """Run a student step function over the whole signal; return the a-priori errors."""
    w, errors = np.zeros(U.shape[1]), np.empty(len(d))
    for n in range(len(d)):
        w, errors[n] = step(w, U[n], d[n], *args)
    return errors, w


e_lms, _ = run(lms_step, U, d, MU_LMS)
e_nlms, w_nlms = run(nlms_step, U, d, MU_NLMS, EPS)
ref_lms = filters.LMS(K, MU_LMS).run(U, d, record="none")
ref_nlms = filters.NLMS(K, MU_NLMS, EPS).run(U, d, record="none")
print("LMS matches the library: ", np.allclose(e_lms, ref_lms.e))
print("NLMS matches the library:", np.allclose(e_nlms, ref_nlms.e))
assert np.allclose(e_lms, ref_lms.e) and np.allclose(e_nlms, ref_nlms.e)

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(e_lms ** 2, lw=0.6, alpha=0.8, label=f"your LMS, $\\mu$ = {MU_LMS}")
ax.semilogy(e_nlms ** 2, lw=0.6, alpha=0.8, label=f"your NLMS, $\\tilde\\mu$ = {MU_NLMS}")
ax.set_xlabel("sample n")
ax.set_ylabel("squared error $e(n)^2$")
ax.set_title("System identification with a coloured input")
ax.legend()

# %% [markdown]
# ## Your step functions inside the library's filters
#
# `lmsbn.use(...)` swaps your functions into the library for a `with` block: there, `filters.LMS`
# and `filters.NLMS` call *your* `lms_step` and `nlms_step` for every sample of every
# realization (the library's loop, with your step as its body), just as your convolution will
# train a network in homework 2.

# %%
from lmsbn import use

with use(lms_step=lms_step, nlms_step=nlms_step):
    yours_lms = filters.LMS(K, MU_LMS).run(U, d, record="none")
    yours_nlms = filters.NLMS(K, MU_NLMS, EPS).run(U, d, record="none")
print("filters.LMS on your lms_step matches the library: ", np.allclose(yours_lms.e, ref_lms.e))
print("filters.NLMS on your nlms_step matches the library:", np.allclose(yours_nlms.e, ref_nlms.e))
assert np.allclose(yours_lms.e, ref_lms.e) and np.allclose(yours_nlms.e, ref_nlms.e)

# %% [markdown]
# ## NLMS does not care about the input's scale
#
# Multiply the input by $c = 10$: your NLMS produces the *same* errors, with weights divided by
# $c$ (up to the tiny $\epsilon$). LMS at the same $\mu$ would see $\lambda_{\max}$ multiplied
# by $c^2 = 100$ and leave its stable range.

# %%
c = 10.0
e_scaled, w_scaled = run(nlms_step, c * U, d, MU_NLMS, EPS)
print("same errors:", np.allclose(e_scaled, e_nlms, atol=1e-6),
      "| weights divided by c:", np.allclose(c * w_scaled, w_nlms, atol=1e-6))
assert np.allclose(e_scaled, e_nlms, atol=1e-6)

# %% [markdown] question="nlms_min_norm" points=2 manual=true
# ## Question
#
# For $\tilde\mu = 1$ and $\epsilon = 0$, what is the *a-posteriori* error
# $d(n) - w(n+1)^\top u(n)$ of NLMS, and why does that make NLMS a minimum-norm update?
#
# <!-- BEGIN SOLUTION -->
# $w(n+1)^\top u(n) = w(n)^\top u(n) + e(n)\, \|u(n)\|^2 / \|u(n)\|^2 = d(n)$, so the
# a-posteriori error is zero. The change $w(n+1) - w(n)$ is a multiple of $u(n)$, i.e. it lies in
# the row space of the constraint $w^\top u(n) = d(n)$: among all weight vectors that satisfy
# the constraint it is the one closest to $w(n)$ (the orthogonal projection of $w(n)$ onto that
# hyperplane), which is the minimum-norm change.
# <!-- END SOLUTION -->
