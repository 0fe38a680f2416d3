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
# # Tutorial 2 — NLMS: normalising the step by the input power
#
# **Motivation.** Tutorial 1 showed that LMS is stable only for $\mu < 2/\lambda_{max}$, and
# $\lambda_{max}$ grows with the *power* of the input. Feed the same filter a signal ten times
# louder and every eigenvalue grows a hundredfold: a step size that worked yesterday now diverges.
# The normalised LMS filter (NLMS) fixes this by dividing the step by the energy of the current
# regressor. BatchNorm does something strikingly similar inside a network (tutorial 7), so it is
# worth understanding NLMS precisely: its update, why it is stable for $0 < \tilde\mu < 2$
# whatever the input power, and the minimum-norm problem it solves.

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn import filters
from lmsbn.filters import signals

# %% tags=["parameters"]
RUNS = 200  # test: 16
STEPS = 1000  # test: 200
W = 3.1
MU_TILDES = (0.1, 0.25, 0.5, 1.0, 1.5, 1.9, 2.1, 2.5)
LMS_MU = 0.075
SCALE = 10.0
SEED = 0

# %% [markdown]
# ## 1. The update
#
# $$
# w(n+1) = w(n) + \frac{\tilde\mu}{\epsilon + \|u(n)\|^2}\, e(n)\, u(n),
# \qquad e(n) = d(n) - w(n)^T u(n).
# $$
#
# It is LMS with a *time-varying* step $\mu(n) = \tilde\mu / (\epsilon + \|u(n)\|^2)$. Since
# $E\|u\|^2 = \operatorname{tr} R$, on average NLMS uses $\mu \approx \tilde\mu /
# \operatorname{tr} R$ — inside the conservative mean-square bound $2/\operatorname{tr} R$ of
# LMS whenever $\tilde\mu < 2$, and so (as $\lambda_{max} \le \operatorname{tr} R$) inside
# the mean bound $2/\lambda_{max}$ too. The small $\epsilon$ only protects
# against a zero regressor.

# %%
eq = signals.equalizer(W)
U, d = eq.sample(STEPS, runs=RUNS, rng=SEED)        # U: (runs, n, K), d: (runs, n)
mu_t, eps = 0.5, 1e-8
w = np.zeros(eq.taps)
for n in range(50):                                 # the update by hand, first realization
    u = U[0, n]
    e = d[0, n] - w @ u
    w = w + mu_t * e * u / (eps + u @ u)
ref = filters.NLMS(eq.taps, mu_t, eps=eps).run(U[0, :50], d[0, :50])
print("hand-written NLMS == filters.NLMS:", np.allclose(w, ref.w_final))
print(f"tr R = {eq.spectrum.trace:.3f}; "
      f"mean ||u||^2 over the data = {np.mean(np.sum(U**2, axis=-1)):.3f}")

# %% [markdown]
# ## 2. The minimum-norm view
#
# With $\tilde\mu = 1$ and $\epsilon = 0$ the NLMS step is the solution of
#
# $$
# \min_{w'} \|w' - w(n)\|^2 \quad \text{subject to} \quad w'^T u(n) = d(n):
# $$
#
# the *smallest* change of the weights that makes the a-posteriori error zero. The constraint is
# one hyperplane in weight space; the closest point of a hyperplane lies along its normal
# $u(n)$, at distance $e(n)/\|u(n)\|$. Check both claims numerically:

# %%
rng = np.random.default_rng(SEED)
w0, u, target = rng.normal(size=eq.taps), U[0, 7], d[0, 7]
step = filters.NLMS(eq.taps, 1.0, eps=0.0, w0=w0)
step.step(u, target)
w1 = step.w
print(f"a-posteriori error  d - w(n+1)^T u = {target - w1 @ u:.2e}")
# Any other solution of the constraint: w1 plus a direction orthogonal to u.
z = rng.normal(size=eq.taps)
other = w1 + (z - (z @ u) / (u @ u) * u)
print(f"other solution satisfies the constraint: {np.isclose(other @ u, target)}; "
      f"its change is larger: {np.linalg.norm(other - w0):.3f} > {np.linalg.norm(w1 - w0):.3f}")
# The minimum-norm solution of the underdetermined system u^T dw = e is pinv(u^T) e.
print("NLMS step == pseudo-inverse solution:",
      np.allclose(w1 - w0, np.linalg.pinv(u[None, :]) @ [target - w0 @ u]))

# %% [markdown]
# ## 3. Stable for $0 < \tilde\mu < 2$
#
# Along the direction $u(n)$ the a-posteriori error is $(1 - \tilde\mu)\,e(n)$: each step
# multiplies the error it corrects by $1 - \tilde\mu$, which shrinks it iff
# $|1 - \tilde\mu| < 1$, i.e. $0 < \tilde\mu < 2$. Notice that the bound contains **no
# eigenvalue**. Sweep $\tilde\mu$ on the equalizer:

# %%
final = []
for mt in MU_TILDES:
    res = filters.NLMS(eq.taps, mt).run(U, d, record="none")
    J = filters.learning_curve(res)                 # NaN from a diverged run onwards
    final.append(np.mean(J[-STEPS // 5:]))
    print(f"mu~ = {mt:4}: {np.mean(res.diverged):4.0%} of runs diverged, "
          f"final MSE {final[-1]:.3g}")
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
finite = np.isfinite(final)
ax.semilogy(np.array(MU_TILDES)[finite], np.array(final)[finite], "o-")
for mt in np.array(MU_TILDES)[~finite]:
    ax.axvline(mt, color="C3", ls=":", lw=1)
ax.axvline(2.0, color="k", ls="--", label=r"bound $\tilde\mu = 2$")
ax.set(xlabel=r"normalised step $\tilde\mu$", ylabel="final mean-square error",
       title="NLMS on the equalizer (red dotted: diverged)")
ax.legend()
plt.show()

# %% [markdown]
# Once converged, the error grows with $\tilde\mu$ (more gradient noise) up to
# $\tilde\mu = 2$, and explodes past it. The smallest $\tilde\mu$ may not have finished
# converging within `STEPS` iterations at all — that is the other side of the trade: plot the
# learning curves for $\tilde\mu = 0.1$ and $1$.
#
# ## 4. Scale invariance: LMS versus NLMS when the input is 10 times louder
#
# Multiply the input by $c$: LMS sees $R \to c^2 R$, so $\lambda_{max}$ grows by $c^2$ and a
# step that was safe is now far past $2/\lambda_{max}$. NLMS's numerator and denominator both
# grow by $c^2$: the outputs are identical and the weights are simply divided by $c$.

# %%
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
runs = {}
for scale, style in ((1.0, "-"), (SCALE, "--")):
    for name, filt in (("LMS", filters.LMS(eq.taps, LMS_MU)),
                       ("NLMS", filters.NLMS(eq.taps, 0.5))):
        res = filt.run(scale * U, d)
        runs[name, scale] = res
        J = filters.learning_curve(res)
        ax.semilogy(J, style, color="C0" if name == "LMS" else "C1",
                    label=f"{name}, input x{scale:g}")
        fate = (f"{np.mean(res.diverged):.0%} of runs diverged (first at step "
                f"{np.min(res.diverged_at[res.diverged])})" if np.any(res.diverged)
                else f"final MSE {np.mean(J[-100:]):.4f}")
        print(f"{name:>4}, input x{scale:g}: {fate}")
print(f"LMS: mu = {LMS_MU} against 2/lambda_max = {eq.spectrum.stability_bound():.3f} at x1 and "
      f"{eq.spectrum.stability_bound() / SCALE**2:.4f} at x{SCALE:g}")
a, b = runs["NLMS", 1.0], runs["NLMS", SCALE]
print("NLMS outputs identical:", np.allclose(a.y, b.y),
      "| weights divided by the scale:", np.allclose(a.w_final, SCALE * b.w_final))
ax.set(xlabel="iteration $n$", ylabel="mean-square error", ylim=(1e-3, 1e3),
       title=f"Equalizer W = {W}: input scaled by {SCALE:g}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Exercises
#
# **1.** Show on paper that NLMS with $\tilde\mu = 1$, $\epsilon = 0$ makes the a-posteriori
# error zero, and that with a general $\tilde\mu$ it is $(1 - \tilde\mu)\, e(n)$. Check the
# second claim numerically with `filters.NLMS(..., mu=0.3, eps=0.0)` and one `step`.
#
# <details><summary>Answer</summary>
#
# $d - w(n+1)^T u = d - w^T u - \tilde\mu\, e\, u^T u / \|u\|^2 = (1 - \tilde\mu)\, e$.
# Numerically: build `f = filters.NLMS(K, 0.3, eps=0.0, w0=w0)`, call `f.step(u, target)`, and
# compare `target - f.w @ u` with `0.7 * (target - w0 @ u)`.
# </details>
#
# **2.** NLMS removed the dependence on the input *power*. Did it remove the dependence on the
# eigenvalue *spread*? Compare NLMS learning curves on the equalizers $W = 2.9$ and $W = 3.5$
# at the same $\tilde\mu$.
#
# <details><summary>Answer</summary>
#
# No. NLMS rescales all modes by the same factor $1/\|u\|^2$, so the ratio of the slowest to
# the fastest time constant is still about $\chi(R)$: the $W = 3.5$ curve is much slower.
# Removing the spread needs a *matrix* normalisation: the affine projection algorithm
# (`filters.AffineProjection`) decorrelates the input over several regressors, and the full
# version, `filters.RLS`, steps along $R^{-1}u$ (a Newton step): for both $W = 2.9$ and
# $W = 3.5$ it is within a factor 2 of $J_{min}$ after about $2K = 22$ samples (measured over 200
# runs, where NLMS with $\tilde\mu = 0.5$ is still more than 100 times above $J_{min}$), at
# $O(K^2)$ cost per sample. Inside a network, BatchNorm's per-channel normalisation is the cheap
# middle ground: it equalises the channel powers, the diagonal blocks of $R$ (tutorial 5).
# </details>
#
# **3.** What happens to NLMS with `eps=0` if a regressor is exactly zero? How does the library
# report it?
#
# <details><summary>Answer</summary>
#
# The step divides $0$ by $0$: the weights become NaN. The filter does not raise: the run is
# marked `diverged` with `reason` "non-finite ..." and the step at which it happened, because
# divergence is an outcome to study, not a crash. A small $\epsilon > 0$ avoids it.
# </details>
