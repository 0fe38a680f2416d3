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
# # Tutorial 1 — LMS and the natural modes of a filter
#
# **Why start here?** This course explains why Batch Normalization makes convolutional networks
# train faster and more stably. The explanation comes from a much older field: adaptive filters.
# The least-mean-squares (LMS) filter of Widrow and Hoff (1960) is the simplest learning machine
# there is — a linear combiner trained by stochastic gradient descent — and its convergence is
# understood *exactly*: the eigenvalues of the input autocorrelation matrix decide how fast it
# learns and how large a step it tolerates. Every later tutorial applies this one idea to a
# layer of a network.
#
# You will
#
# 1. build the classical adaptive-equalizer experiment (Haykin, *Adaptive Filter Theory*) and
#    see how the **eigenvalue spread** of the input slows LMS down;
# 2. compare simulated ensemble learning curves with the theory curves;
# 3. watch the **natural modes** of the weights decay as $(1-\mu\lambda_k)^n$;
# 4. find where the theory's *independence approximation* fails.

# %%
import matplotlib.pyplot as plt
import numpy as np

from lmsbn import filters, spectral
from lmsbn.filters import signals
from lmsbn.plot import plot_learning_curve, plot_mode_trajectories, plot_spectra

# %% tags=["parameters"]
RUNS = 300  # test: 20
STEPS = 500  # test: 150
W_VALUES = (2.9, 3.1, 3.3, 3.5)
MU = 0.075
AR_RUNS = 2000  # test: 300
AR_STEPS = 200  # test: 80
EXPLORE_RUNS = 50  # test: 10
EXPLORE_STEPS = 300  # test: 60
SEED = 0

# %% [markdown]
# ## 1. The LMS filter
#
# An FIR filter with $K$ taps sees the regressor $u(n) = [x(n), x(n-1), \dots, x(n-K+1)]^T$
# (newest sample first), outputs $y(n) = w(n)^T u(n)$ and compares it with a desired response
# $d(n)$. LMS takes one stochastic-gradient step on $\tfrac12 e(n)^2$:
#
# $$
# e(n) = d(n) - w(n)^T u(n), \qquad w(n+1) = w(n) + \mu\, e(n)\, u(n).
# $$
#
# The best possible weights are the Wiener solution $w_o = R^{-1} p$, with the **input
# autocorrelation matrix** $R = E[u u^T]$ and $p = E[u\, d]$. Here is the update written out
# by hand for a few samples — step through it in a debugger:

# %%
eq = signals.equalizer(W_VALUES[0])       # the classical experiment, described in section 2
U, d = eq.sample(20, runs=1, rng=SEED)    # U: (runs, n, K) regressors, d: (runs, n) desired
w = np.zeros(eq.taps)
for n in range(U.shape[1]):
    u = U[0, n]
    y = w @ u                             # the filter's output
    e = d[0, n] - y                       # a-priori error
    w = w + MU * e * u                    # the LMS update

# %% [markdown]
# The library's filters run the same loop. `AdaptiveFilter.reference_run` is the whole
# algorithm, one sample at a time, for every learning rule:
#
# ```python
# for n in range(T):
#     w_history[n] = w
#     y[n] = w @ U[n]
#     e[n] = d[n] - y[n]
#     w = w + self._update(w, U[n], e[n])      # LMS: mu * e * u
# ```
#
# Each filter class (`LMS`, `NLMS`, `RLS`, ...) only supplies `_update`. `run` is the fast
# engine: the same loop, with each line acting on every realization of an ensemble at once. It
# is tested equal to `reference_run` for every rule, up to round-off (its dot products sum in
# another order).

# %%
lms = filters.LMS(eq.taps, MU)
reference = lms.reference_run(U[0], d[0])      # one realization, one sample at a time
engine = filters.LMS(eq.taps, MU).run(U, d)    # the vectorised engine
print("hand-written loop and reference_run agree:", np.allclose(w, reference.w_final, rtol=1e-12))
print("reference_run and run agree:", np.allclose(reference.w_history, engine.w_history[0],
                                                   rtol=1e-12, atol=1e-15))
assert np.allclose(w, reference.w_final, rtol=1e-12)
assert np.allclose(reference.w_history, engine.w_history[0], rtol=1e-12, atol=1e-15)

# %% [markdown]
# ## 2. The adaptive equalizer and its eigenvalue spread
#
# A random $\pm 1$ symbol stream $a(n)$ passes through a raised-cosine channel
# $h_k = \tfrac12\left[1 + \cos\left(\tfrac{2\pi}{W}(k-2)\right)\right]$, $k = 1, 2, 3$, and
# picks up noise of variance $0.001$. An 11-tap equalizer learns to recover $a(n-7)$.
# The channel output is coloured, and its autocorrelation is a Toeplitz matrix with
#
# $$
# r(0) = h_1^2 + h_2^2 + h_3^2 + \sigma_\nu^2,\quad r(1) = h_1 h_2 + h_2 h_3,\quad
# r(2) = h_1 h_3 .
# $$
#
# The larger $W$, the more the channel smears the symbols, and the larger the **eigenvalue
# spread** $\chi(R) = \lambda_{max} / \lambda_{min}$.

# %%
problems = {W: signals.equalizer(W) for W in W_VALUES}
print(f"{'W':>4} {'lambda_max':>10} {'lambda_min':>10} {'spread':>8} {'2/lambda_max':>12}")
for W, eq in problems.items():
    s = eq.spectrum
    print(f"{W:>4} {s.lambda_max:>10.4f} {s.lambda_min:>10.4f} {s.spread:>8.2f} "
          f"{s.stability_bound():>12.3f}")

# The same function draws the spectra of conv layers in tutorial 5: the analysis core does not
# know whether R came from a filter or from a layer.
ax = plot_spectra({f"W = {W}": eq.spectrum for W, eq in problems.items()}, normalize=False)
ax.set_title("Eigenvalues of the equalizer's input autocorrelation")
plt.show()

# %% [markdown]
# ## 3. Natural modes
#
# Write the weight error as $c(n) = w(n) - w_o$ and diagonalise $R = Q \Lambda Q^T$. Averaging
# the update over the data (and treating $u(n)$ as independent of $w(n)$) gives
# $E\,c(n+1) = (I - \mu R)\, E\,c(n)$, and in the eigen-coordinates $v(n) = Q^T c(n)$ the modes
# decouple:
#
# $$
# E\,v_k(n) = (1 - \mu \lambda_k)^n\, v_k(0), \qquad k = 1, \dots, K .
# $$
#
# * The mean converges iff $0 < \mu < 2/\lambda_{max}$: the **largest** eigenvalue sets the
#   stability bound.
# * Mode $k$ has time constant $\tau_k = -1/\ln|1 - \mu\lambda_k| \approx 1/(\mu\lambda_k)$:
#   the **smallest** eigenvalue sets the speed.
# * For small steps (and at $\mu = 1/\lambda_{max}$) the slowest mode is about $\chi(R)$ times
#   slower than the fastest. A large spread means a filter that is slow *and* close to
#   instability.

# %%
for W, eq in problems.items():
    tau = eq.spectrum.time_constants(MU)
    print(f"W = {W}: fastest mode tau = {tau.min():6.1f} samples, slowest tau = {tau.max():7.1f} "
          f"samples (ratio {tau.max() / tau.min():5.1f}, spread {eq.spectrum.spread:5.1f})")

# %% [markdown]
# ## 4. Ensemble learning curves: simulation against theory
#
# One run of LMS is noisy; the *learning curve* is the mean-square error
# $J(n) = E[e(n)^2]$, estimated by averaging `RUNS` independent realizations (all run at once:
# a leading ensemble axis). Independence theory predicts it from the eigenvalues alone:
#
# $$
# J(n) \approx J_{min} + \sum_k \lambda_k\, E[v_k(n)^2].
# $$
#
# Two versions are drawn: the small-step theory (which ignores the gradient noise created by the
# excess error) and Haykin's independence theory (which includes it).

# %%
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
curves = {}
for i, (W, eq) in enumerate(problems.items()):
    U, d = eq.sample(STEPS, runs=RUNS, rng=SEED + i)
    res = filters.LMS(eq.taps, MU).run(U, d)
    curves[W] = filters.ensemble_learning_curve(res, spectrum=eq.spectrum, w_ref=eq.w_opt)
    c0 = -eq.w_opt                                     # the filter starts from w = 0
    small = spectral.learning_curve_theory(eq.spectrum, MU, eq.J_min, c0, STEPS - 1)
    haykin = spectral.learning_curve_theory(eq.spectrum, MU, eq.J_min, c0, STEPS - 1,
                                            theory="haykin")
    plot_learning_curve(curves[W], theory=haykin, ax=ax, label=f"W = {W}", color=f"C{i}")
    ax.plot(small, ":", color=f"C{i}", lw=1.5)
    late = slice(STEPS // 2, None)
    print(f"W = {W}: J_min = {eq.J_min:.4f}, mean J over the last half: simulated "
          f"{curves[W].mse[late].mean():.4f}, Haykin theory {haykin[late].mean():.4f}, "
          f"small-step theory {small[late].mean():.4f}")
ax.plot([], [], "k:", label="small-step theory")
ax.set_title(f"LMS equalizer, $\\mu$ = {MU}, {RUNS} runs (dashed: independence theory)")
ax.legend(fontsize=7, ncol=2)
plt.show()

# %% [markdown]
# The curves slow down as $W$ (and the spread) grows — the slowest modes take longer and
# longer — exactly as the eigenvalues predicted. The theory curves get the shape right; they
# are approximations (next section says why), so read the printed numbers rather than trusting
# the lines blindly.
#
# ## 5. The modes themselves
#
# `spectral.mode_coordinates` projects the recorded weights onto the eigenvectors, and
# `spectral.predicted_modes` draws $(1-\mu\lambda_k)^n v_k(0)$. Below: the ensemble mean of the
# fastest, a middle and the slowest mode of the hardest equalizer.

# %%
W = W_VALUES[-1]
eq, curve = problems[W], curves[W]
measured = curve.mode_mean                                  # (STEPS + 1, K), mean over runs
predicted = spectral.predicted_modes(measured[0], eq.spectrum, MU, STEPS)
ax = plot_mode_trajectories(curve, predicted, spectrum=eq.spectrum)
off = np.abs(measured - predicted).max(axis=0) / np.linalg.norm(measured[0])
print(f"largest |measured - predicted| per mode, as a fraction of ||v(0)||: fastest mode "
      f"{off[0]:.3f}, slowest mode {off[-1]:.3f}")
ax.set_title(f"Natural modes, W = {W} (dashed: $(1-\\mu\\lambda_k)^n v_k(0)$)")
plt.show()

# %% [markdown]
# Are the dashed lines on the measured ones? Read the printed deviations. The fast modes settle
# within a few iterations either way; a slow mode whose measured mean decays noticeably faster or
# slower than $(1-\mu\lambda_k)^n$ is the theory's approximation showing. Section 6 isolates
# its cause.
#
# ## 6. Where the independence approximation fails
#
# The mode equation assumed that $u(n)$ is independent of $w(n)$. For a tapped delay line that is
# false: $u(n)$ and $u(n-1)$ share $K-1$ samples, and $w(n)$ was built from $u(n-1)$. For a
# small $\mu$ and a nearly white input the error is negligible; for a strongly coloured input and
# a larger $\mu$ it is not. We identify a 2-tap plant driven by AR(1) noise
# $x(n) = a\,x(n-1) + v(n)$ with $a = 0.9$ at $\mu = 0.05$, twice: once with delay-line
# regressors, once with *independent* regressors that have exactly the same $R$.

# %%
mu_ar, plant = 0.05, np.array([1.0, 0.5])
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
deviation = {}
for j, kind in enumerate(("delay_line", "independent")):
    prob = signals.system_identification(plant, AR_STEPS, input=[0.9], regressors=kind,
                                         runs=AR_RUNS, rng=SEED + 10 + j)
    U, d = prob.sample()
    res = filters.LMS(2, mu_ar).run(U, d)
    v = spectral.mode_coordinates(res.w_history, prob.spectrum, prob.w_opt).mean(axis=0)
    v_pred = spectral.predicted_modes(v[0], prob.spectrum, mu_ar, AR_STEPS)
    deviation[kind] = np.abs(v - v_pred).max(axis=0) / np.linalg.norm(v[0])
    ax.plot(v[:, 0], color=f"C{j}", label=f"{kind} regressors, measured mode 1")
    ax.plot(v_pred[:, 0], "k--", lw=1)
    print(f"{kind:>11}: largest |measured - predicted| per mode, as a fraction of ||v(0)||: "
          f"{np.array2string(deviation[kind], precision=3)}")
print("eigenvalues of R:", np.round(prob.spectrum.eigenvalues, 3))
ax.set(xlabel="iteration $n$", ylabel="$E\\,v_1(n)$",
       title="AR(1) input, a = 0.9, $\\mu$ = 0.05 (dashed: independence theory)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# With independent regressors the measured mean modes sit on the theory (the residual is Monte
# Carlo noise that shrinks as `AR_RUNS` grows); with the delay line the fast mode is off by the
# fraction printed above. Keep this in mind for networks: im2col patches of neighbouring pixels
# overlap just like a delay line.
#
# ## 7. Move the sliders yourself
#
# `lmsbn.interactive.equalizer_explorer` redraws sections 4 and 5 for the $W$ and $\mu$ you set
# with its sliders (and for NLMS, from its dropdown): the ensemble learning curve against the
# independence theory, and the fastest, a middle and the slowest mean mode against
# $(1-\mu\lambda_k)^n v_k(0)$. The symbols and the noise stay the same while you move a slider,
# so what changes is the parameter's doing. Things to try:
#
# * raise $W$ at a fixed $\mu$: the spread (in the title) grows and the slowest mode lags;
# * raise $\mu$ towards the mean bound $2/\lambda_{max}$ printed under the figure. With the
#   explorer's defaults ($W$ = 3.1, 50 runs of 300 samples, seed 0) 49 of the 50 LMS runs
#   diverge at $\mu$ = 0.2, where $\mu\lambda_{max}$ is only 0.48: the mean-square error needs
#   $\mu$ below about $2/\operatorname{tr}R$ (exercise 1);
# * switch to NLMS: its theory line is LMS's at $\mu = \tilde\mu/\operatorname{tr}R$, an
#   approximation that holds for small $\tilde\mu$ and breaks down as $\tilde\mu$ nears 2
#   (NLMS itself stays stable).
#
# The sliders need ipywidgets: `pip install "lmsbn[notebooks]"`. Without it this cell says so and
# draws the same figure once, for `W_VALUES[1]` and `MU`: change them and re-run the cell.

# %%
from lmsbn import interactive

try:
    explorer = interactive.equalizer_explorer(W=W_VALUES[1], mu=MU, runs=EXPLORE_RUNS,
                                              steps=EXPLORE_STEPS, rng=SEED)
except ImportError as exc:  # no ipywidgets: the same computation, drawn once
    print(exc)
    explorer = None
    view = interactive.equalizer_view(W=W_VALUES[1], mu=MU, runs=EXPLORE_RUNS,
                                      steps=EXPLORE_STEPS, rng=SEED)
    print(view.summary())
    interactive.plot_equalizer_view(view)
    plt.show()
explorer  # noqa: B018  (a cell's last expression is what Jupyter displays: the explorer)

# %% [markdown]
# ## Exercises
#
# **1.** Using only `eq.spectrum`, predict the largest step size for which the mean weights of the
# $W = 3.5$ equalizer converge. Run `filters.LMS` at $1.1\times$ that value and check the result's
# `diverged` field.
#
# <details><summary>Answer</summary>
#
# The bound is `2 / eq.spectrum.lambda_max` (`eq.spectrum.stability_bound()`). Just above it the
# largest mode grows as $|1-\mu\lambda_{max}|^n > 1$; the filter records the divergence (step and
# cause) instead of raising:
# `filters.LMS(11, 1.1 * eq.spectrum.stability_bound()).run(*eq.sample(2000, runs=4, rng=0))`.
# Now try $0.9\times$ and $0.3\times$ the bound: the runs still blow up. $2/\lambda_{max}$ only
# guarantees that the *mean* converges; the mean-square error needs a much smaller step, about
# $2/\operatorname{tr} R$ or less (`spectral.stability_bounds(eq.spectrum)` prints both).
# Practical step sizes are set by $\operatorname{tr} R$ — the input power — which is exactly
# what NLMS normalises by (tutorial 2).
# </details>
#
# **2.** Halve $\mu$. How do the time constants of the slowest mode and the final misadjustment
# change? Verify with `eq.spectrum.time_constants` and `spectral.misadjustment`.
#
# <details><summary>Answer</summary>
#
# $\tau_k \approx 1/(\mu\lambda_k)$ doubles, so convergence takes twice as long; the
# misadjustment $\approx \tfrac{\mu}{2}\operatorname{tr}R$ halves. Speed and final accuracy trade
# against each other through $\mu$; only the eigenvalues can break the trade — which is what
# normalisation (tutorial 2) and BatchNorm (tutorials 4-7) change.
# </details>
#
# **3.** In section 6, increase `AR_RUNS` tenfold. Which deviation shrinks and which one does not?
# What does that tell you?
#
# <details><summary>Answer</summary>
#
# The independent-regressor deviation shrinks roughly like $1/\sqrt{\text{runs}}$: it is sampling
# noise. The delay-line deviation stays: it is a *bias* of the independence approximation, not
# noise. Reducing $\mu$ (try 0.01) shrinks it.
# </details>
