r"""Wei et al. (2019): the mean-field prediction of the Fisher information's largest eigenvalue, the
maximal learning rate it implies, and the sweep over learning rate x BatchNorm scale that tests it.

* :func:`mean_field_lambda_max` predicts :math:`\lambda_{max}` for wide fully connected ReLU nets
  (the estimate is derived here, lmsbn's own);
* :func:`max_learning_rate` turns it into :math:`\eta^* = 2(1 + m)/\lambda_{max}` (the classical
  heavy-ball bound on a quadratic);
* :func:`gamma_lr_sweep` trains over a grid of learning rates x :math:`\gamma` and compares the
  measured divergence threshold with the predicted :math:`\eta^*`.

See :mod:`lmsbn.experiments.wei` for the claim tested and the provenance of each form.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_int, check_positive
from lmsbn.experiments._inputs import _data
from lmsbn.experiments.wei.fisher import fim_lambda_max
from lmsbn.io import Result, rng_param
from lmsbn.train import grid, run_sweep

__all__ = ["GammaLRSweep", "gamma_lr_sweep", "max_learning_rate", "mean_field_lambda_max"]


def max_learning_rate(lambda_max, momentum: float = 0.0):
    r"""The largest stable learning rate :math:`\eta^* = 2 (1 + m) / \lambda_{max}`.

    Heavy-ball momentum :math:`m` on a quadratic with curvature :math:`\lambda` is stable iff
    :math:`0 < \eta\lambda < 2(1 + m)`.
    """
    lam = as_float_array(lambda_max, "lambda_max")
    if np.any(lam <= 0):
        raise ValueError(f"lambda_max must be positive, got {lam.min()}")
    momentum = check_positive(momentum, "momentum", allow_zero=True)
    if momentum >= 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
    out = 2.0 * (1.0 + momentum) / lam
    return float(out) if out.ndim == 0 else out


# ------------------------------------------------------------------------------- mean field
def _relu_kernels(q11, q12):
    """E[relu(u) relu(v)] and E[relu'(u) relu'(v)] for centred Gaussians, var q11, cov q12.

    The arc-cosine kernels of Cho & Saul (2009) of degrees 1 and 0.
    """
    c = np.clip(q12 / q11, -1.0, 1.0)
    theta = np.arccos(c)
    k1 = q11 / (2 * np.pi) * (np.sqrt(1 - c * c) + (np.pi - theta) * c)
    k0 = (np.pi - theta) / (2 * np.pi)
    return k1, k0


def mean_field_lambda_max(depth: int, width: int, *, gamma=None, sigma_w2: float = 2.0,
                          sigma_b2: float = 0.5, input_dim: int | None = None, q0: float = 1.0,
                          c0: float = 0.0, batch_size: int | None = None) -> float:
    r"""Mean-field estimate (a lower bound) of :math:`\lambda_{max}` of the Fisher information.

    Parameters
    ----------
    depth : int
        Number of weight layers L (L - 1 hidden ReLU layers of ``width`` units, one linear output).
    width : int
        Hidden width N.
    gamma : float or None
        None: no BatchNorm (hidden layers :math:`h = W x + b`). A float: every hidden layer is
        :math:`\mathrm{ReLU}(\mathrm{BN}_\gamma(W x))` with BN scale ``gamma``, shift 0, no bias.
    sigma_w2, sigma_b2 : float
        Initial weight variance :math:`\sigma_w^2 / N_{in}` and bias variance.
    input_dim : int, optional
        :math:`N_0`, default ``width``.
    q0, c0 : float
        Input statistics: mean square per coordinate, and overlap :math:`x\cdot x' / x \cdot x`
        between distinct inputs (0: independent zero-mean inputs).
    batch_size : int, optional
        Finite batch T: the two Rayleigh quotients of the Notes, with the :math:`1/T` corrections.
        Default: the wide-batch limit :math:`\kappa_2`.

    Returns
    -------
    float

    Notes
    -----
    **What this is.** We could not recover the paper's exact formulas (its full text was not
    available to us), so this is the closest defensible mean-field computation, written from
    scratch in the framework of Karakida et al. (2019). The Fisher information of a batch of
    :math:`T` inputs has the same nonzero eigenvalues as the :math:`T \times T` Gram matrix
    :math:`K_{nm} = J_n \cdot J_m / T` of per-example Jacobians (per output; the output blocks
    decouple at leading order). Mean-field theory gives its entries,
    :math:`K \approx [\kappa_2 \mathbf 1 \mathbf 1^\top + (\kappa_1 - \kappa_2) I] / T`, with

    .. math:: \kappa_1 = E\|\nabla f(x)\|^2, \qquad \kappa_2 = E\,\nabla f(x) \cdot \nabla f(x'),

    summed over layers: :math:`\tilde q^{\,l}\,(N_{l-1}\hat q^{\,l-1} + b_l)` for layer
    :math:`l`'s weights and bias, with :math:`\hat q^{\,l}` the forward overlap of the layer's
    inputs (same input for :math:`\kappa_1`, distinct inputs for :math:`\kappa_2`) and
    :math:`\tilde q^{\,l}` the backward overlap (:math:`\tilde q^{\,L} = 1`,
    :math:`\tilde q^{\,l} = \sigma_w^2 E[\phi'\phi']\,\tilde q^{\,l+1}` under gradient
    independence). Forward: :math:`q^{l} = \sigma_w^2 \hat q^{\,l-1} + \sigma_b^2`, with the
    arc-cosine kernels for :math:`\hat q` and :math:`E[\phi'\phi']`. Two Rayleigh quotients of
    :math:`K` bound :math:`\lambda_{max}` from below: along :math:`\mathbf 1`,
    :math:`\kappa_2 + (\kappa_1^{a} - \kappa_2)/T`, and the mean eigenvalue of the complement of
    :math:`\mathbf 1`; the larger is returned (:math:`\kappa_2` alone without ``batch_size``).

    **With BatchNorm** (training mode, large batch) each pre-activation is centred over the batch
    and scaled to variance :math:`\gamma^2`: distinct inputs become uncorrelated
    (:math:`\hat q_{12} = \gamma^2/2\pi`, :math:`E[\phi'\phi'] = 1/4`). BN's backward *projects
    out* the batch mean of the gradient, so below a BN the backward signals of distinct inputs
    are uncorrelated (:math:`\tilde q_{12} = 0`) and those parameters' Jacobians are
    batch-centred: they add to :math:`\kappa_1` but not to :math:`\kappa_2` nor to
    :math:`\kappa_1^{a}` (the uncentred part). The per-example signal grows by
    :math:`\gamma^2/s_l^2` per BN (:math:`s_l^2` the pre-activation variance; :math:`\pi/(\pi-1)`
    for ReLU, the gradient growth of Yang et al. 2019). What remains in :math:`\kappa_2` is the
    output layer, :math:`N\gamma^2/2\pi + 1`, and the last BN's :math:`\beta, \gamma`,
    :math:`\sigma_w^2(1/4 + 1/2\pi)`: :math:`\lambda_{max} \approx N\gamma^2/2\pi`, growing as
    :math:`\gamma^2` and below the plain net's for :math:`\gamma` below a crossing value that
    depends on depth and width (``tests/test_wei.py`` computes it for depth 3, width 784).

    **Checked against** :func:`fim_lambda_max` on MLPs with Gaussian inputs in
    ``tests/test_wei.py`` (ratio measured / this, several seeds): with BN close to 1 at depth 3
    for every gamma, and still a lower bound at depth 6, where the bulk of the centred directions
    overtakes the all-ones one and only its mean is counted. Without BN the median ratio is close
    to 1, but the plain net's finite-width fluctuations make single seeds scatter widely.
    Tutorial 09 prints the ratios for its own network. No constant was tuned.
    """
    L = check_int(depth, "depth", min_value=1)
    N = check_int(width, "width", min_value=1)
    n0 = N if input_dim is None else check_int(input_dim, "input_dim", min_value=1)
    sw = check_positive(sigma_w2, "sigma_w2")
    sb = check_positive(sigma_b2, "sigma_b2", allow_zero=True)
    q0 = check_positive(q0, "q0")
    c0 = float(c0)
    if not -1.0 <= c0 <= 1.0:
        raise ValueError(f"c0 must lie in [-1, 1], got {c0}")
    bn = gamma is not None
    if bn:
        gamma = check_positive(gamma, "gamma")
    # forward: hat_q[l] = (same-input, distinct-input) overlap of x^l per unit; d[l] for relu'
    hat = [(q0, q0 * c0)]
    dd, s2 = [None], [None]
    for _layer in range(1, L):
        q11, q12 = sw * hat[-1][0], sw * hat[-1][1]
        if bn:
            s2.append(q11 - q12)
            hat.append((gamma ** 2 / 2, gamma ** 2 / (2 * np.pi)))
            dd.append((0.5, 0.25))
        else:
            q11, q12 = q11 + sb, q12 + sb
            k1_11, _ = _relu_kernels(q11, q11)
            k1_12, k0_12 = _relu_kernels(q11, q12)
            s2.append(None)
            hat.append((k1_11, k1_12))
            dd.append((0.5, k0_12))
    # Backward, from the output layer down. kappa[0] (same input) and kappa[1] (distinct inputs)
    # collect every parameter's term; kappa_a is the part of kappa[0] whose Jacobian is not
    # batch-centred, i.e. parameters no training-mode BN lies between and the output.
    kappa = np.zeros(2)
    kappa_a = 0.0
    tq = np.ones(2)                                   # backward overlaps at layer L's output
    centred = False                                   # has the signal gone back through a BN?
    n_in = [n0] + [N] * (L - 1)
    for layer in range(L, 0, -1):
        has_bias = not (bn and layer < L)             # a layer that feeds a BN has no bias
        term = tq * (n_in[layer - 1] * np.array(hat[layer - 1]) + has_bias)
        kappa += term
        kappa_a += 0.0 if centred else term[0]
        if layer == 1:
            break
        post = sw * np.array(dd[layer - 1]) * tq      # overlaps at the ReLU input of layer - 1
        if bn:
            # BN's beta and gamma: E[phi'^2] = E[phi'^2 xhat^2] = 1/2 (same input); for distinct
            # inputs E[phi']^2 = 1/4 and E[phi' xhat]^2 = 1/2pi, times the overlap tq[1].
            bn_term = np.array([2 * post[0], sw * tq[1] * (0.25 + 1 / (2 * np.pi))])
            kappa += bn_term
            kappa_a += 0.0 if centred else bn_term[0]
            # Back through BN in training mode: the batch mean of the gradient is projected out,
            # so distinct inputs' backward signals decorrelate (tq[1] -> 0), and the per-example
            # signal is scaled by gamma^2 / s^2 (the gradient growth of Yang et al. 2019).
            tq = np.array([post[0] * gamma ** 2 / s2[layer - 1], 0.0])
            centred = True
        else:
            tq = post
    lam = kappa[1]
    if batch_size is not None:
        T = check_int(batch_size, "batch_size", min_value=1)
        # Two Rayleigh quotients of the T x T Gram matrix of per-example Jacobians: along the
        # all-ones vector, and the mean eigenvalue of its orthogonal complement.
        lam = kappa[1] + (kappa_a - kappa[1]) / T
        if T > 1:
            lam = max(lam, (kappa[0] - lam) / (T - 1))
    return float(lam)


# ------------------------------------------------------------------------------- the sweep
@dataclass
class GammaLRSweep(Result):
    """Final losses over a grid of BN gamma x learning rate, with the predicted eta*.

    Attributes
    ----------
    gammas : ndarray, shape (G,)
        NaN marks the plain network (no BatchNorm) row.
    lrs : ndarray, shape (R,)
    final_loss : ndarray, shape (G, R)
        Mean of the last ``window`` minibatch losses; inf where the run diverged.
    diverged : ndarray of bool, shape (G, R)
    lambda_max : ndarray, shape (G,)
        Fisher lambda_max at initialisation (:func:`fim_lambda_max`).
    predicted_lr : ndarray, shape (G,)
        :math:`2C(1+m)/\\lambda_{max}` (the factor C: lmsbn's MSE averages over the C outputs).
    measured_lr : ndarray, shape (G,)
        Smallest learning rate of the grid that diverged (inf if none did).
    params : dict
        The arguments of :func:`gamma_lr_sweep`.
    """

    gammas: np.ndarray
    lrs: np.ndarray
    final_loss: np.ndarray
    diverged: np.ndarray
    lambda_max: np.ndarray
    predicted_lr: np.ndarray
    measured_lr: np.ndarray
    params: dict = field(default_factory=dict)

    def labels(self):
        """Row labels of the sweep map, one per gamma (and the plain net)."""
        return ["no BN" if np.isnan(g) else f"gamma={g:g}" for g in self.gammas]

    def verdict(self) -> str:
        """The claim judged from the measured numbers, as text."""
        lines = []
        for lab, p, m in zip(self.labels(), self.predicted_lr, self.measured_lr):
            if np.isfinite(m):
                i = int(np.flatnonzero(self.lrs == m)[0])
                last_ok = self.lrs[i - 1] if i > 0 else np.nan
                inside = last_ok <= p <= m if i > 0 else p <= m
                lines.append(f"{lab}: predicted eta* {p:.3g}; grid diverges between {last_ok:.3g} "
                             f"and {m:.3g} ({'consistent' if inside else f'off by x{m / p:.2g}'})")
            else:
                lines.append(f"{lab}: predicted eta* {p:.3g}; "
                             f"no divergence up to {self.lrs[-1]:.3g}")
        bn = ~np.isnan(self.gammas)
        if bn.sum() >= 2:
            order = np.argsort(self.gammas[bn])
            g, loss = self.gammas[bn][order], self.final_loss[bn][order]
            # Same learning rate, same budget: the comparison the abstract's "lower loss after the
            # same number of epochs" describes (lmsbn's design of it). Only lrs at which every
            # gamma trained can rank them.
            stable = np.all(np.isfinite(loss), axis=0)
            rising = np.all(np.diff(loss[:, stable], axis=0) > 0, axis=0)
            lines.append(f"same lr: loss rises with gamma at {int(rising.sum())} of "
                         f"{int(stable.sum())} lrs where every gamma trained"
                         + (f" (lr {', '.join(f'{r:.3g}' for r in self.lrs[stable][rising])})"
                            if rising.any() else ""))
            # Each gamma at its own best lr: mixes the claim with how large an lr each allows.
            best = np.where(np.isfinite(loss), loss, np.inf).min(axis=1)
            mono = bool(np.all(np.diff(best) >= 0))
            lines.append("best loss per gamma over the grid "
                         + ", ".join(f"{gg:g}: {b:.3g}" for gg, b in zip(g, best))
                         + (" -> smaller gamma trains to lower loss" if mono else
                            " -> smaller gamma does NOT uniformly train to lower loss"))
        return "\n".join(lines)

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        return "gamma x lr sweep (Wei et al. 2019)\n" + self.verdict()

    @classmethod
    def _example(cls) -> GammaLRSweep:
        lrs = np.array([0.1, 1.0, 10.0])
        final = np.array([[0.5, np.inf, np.inf], [0.3, 0.2, np.inf], [0.35, 0.25, np.inf]])
        div = ~np.isfinite(final)
        return cls(np.array([np.nan, 0.5, 1.0]), lrs, final, div, np.array([40.0, 8.0, 12.0]),
                   np.array([0.5, 2.5, 1.7]), np.array([1.0, 10.0, 10.0]),
                   {"gammas": [0.5, 1.0], "include_plain": True, "steps": 3, "momentum": 0.0,
                    "rng": 0})


def _run_cell(*, X, T, widths, gamma, lr, steps, batch_size, momentum, seed_w, seed_t, window):
    """One training run of the sweep (top level so a process pool can pickle it)."""
    from lmsbn.nn import small_cnn
    from lmsbn.train import train

    norm = "none" if np.isnan(gamma) else "full"
    model = small_cnn(X.shape[1], T.shape[1], widths, norm, rng=seed_w,
                      gamma=1.0 if np.isnan(gamma) else gamma)
    hist = train(model, X, T, steps=steps, batch_size=batch_size, lr=lr, momentum=momentum,
                 loss="mse", rng=seed_t, max_loss=1e3)
    first = float(hist.loss[0]) if hist.loss.size else np.inf
    # Unstable = the loss climbed past twice its starting value at some step. A ReLU net past its
    # stability bound often spikes and then "dies" (constant output, moderate loss), which the
    # final loss alone would hide.
    diverged = hist.diverged or not float(np.max(hist.loss)) < 2 * first
    return (np.inf if diverged else float(np.mean(hist.loss[-window:]))), diverged


def gamma_lr_sweep(*, gammas=(0.25, 0.5, 1.0, 2.0, 4.0), lrs=None, steps: int = 60,
                   batch_size: int = 32, momentum: float = 0.0, widths=(8, 16), n: int = 256,
                   size: int = 16, include_plain: bool = True, fim_iters: int = 30,
                   window: int = 10, X=None, y=None, executor=None, n_jobs: int = 1,
                   rng=0) -> GammaLRSweep:
    r"""Loss after ``steps`` SGD steps over learning rate x BatchNorm gamma, with predicted eta*.

    Parameters
    ----------
    gammas : sequence of float
        Initial BN scale of every BN layer of ``small_cnn(norm="full", gamma=...)``.
    lrs : array_like, optional
        Learning rates; default 16 log-spaced values over [1e-2, 30].
    steps, batch_size, momentum : training budget (MSE on one-hot targets).
    widths, n, size : the network and the procedural data.
    include_plain : bool
        Add a no-BatchNorm row (gamma stored as NaN).
    fim_iters : int
        Power iterations for lambda_max at initialisation, on the first ``batch_size`` examples.
    window : int
        The final loss of a run is the mean of its last ``window`` minibatch losses.
    X, y : ndarray, optional
        Images (N, C, H, W) and integer labels (N,) to use instead of the procedural data.
    executor : concurrent.futures.Executor, optional
    n_jobs : int
        Passed to :func:`lmsbn.train.sweep.run_sweep`: any executor, else a process pool when
        ``n_jobs > 1``, else a serial loop (results are identical either way).
    rng : None, int or Generator

    Returns
    -------
    GammaLRSweep

    Notes
    -----
    The prediction uses the Fisher information of the network at initialisation with BatchNorm
    in training mode (batch-level Jacobian, :mod:`lmsbn.experiments.wei.fisher`); training is
    minibatch SGD on lmsbn's ``mse_loss``, whose Gauss-Newton matrix is :math:`I/C`, hence
    :math:`\eta^* = 2C(1+m)/\lambda_{max}`. The curvature changes during training (and minibatch
    noise adds to it), so the prediction is a first-step estimate; the verdict says how far off
    it is. A run counts as diverged if the training loop stops it, or if its minibatch loss ever
    exceeds twice its first value (the instability spike, even if the net then settles).

    The verdict states, per row, where the grid first diverges against the prediction, and the
    two rankings of gamma; tutorial 09 runs a small sweep and prints them. The predicted
    thresholds fall with gamma (``tests/test_wei.py``). Expect the plain CNN to survive rates far
    above its prediction: its first large steps collapse the sharp direction (ReLU units die,
    lambda_max falls by orders of magnitude; ``tests/test_wei.py`` checks the fall), the
    "catapult" behaviour of Lewkowycz et al. (2020).
    """
    from lmsbn.nn import small_cnn

    gam = [float(check_positive(g, "gammas entry")) for g in gammas]
    if include_plain:
        gam = [np.nan] + gam
    gam = np.asarray(gam)
    lrs = np.logspace(-2, np.log10(30), 16) if lrs is None else as_float_array(lrs, "lrs", ndim=1)
    if np.any(lrs <= 0):
        raise ValueError("lrs must be positive")
    lrs = np.sort(lrs)
    steps = check_int(steps, "steps", min_value=1)
    window = min(check_int(window, "window", min_value=1), steps)
    n_jobs = check_int(n_jobs, "n_jobs", min_value=1)
    args = {"gammas": [float(g) for g in gam[~np.isnan(gam)]], "lrs": lrs.tolist(), "steps": steps,
            "batch_size": batch_size, "momentum": momentum, "widths": [int(w) for w in widths],
            "n": n, "size": size, "include_plain": include_plain, "fim_iters": fim_iters,
            "window": window, "data": "procedural" if X is None else "given",
            "rng": rng_param(rng)}
    rng = as_generator(rng)
    X, y = _data(X, y, n, rng, size=size)
    C = int(y.max()) + 1
    T = np.eye(C)[y]
    seed_w, seed_t, seed_v = (int(s) for s in rng.integers(0, 2**31, size=3))
    lam = np.zeros(gam.size)
    for i, g in enumerate(gam):
        model = small_cnn(X.shape[1], C, widths, "none" if np.isnan(g) else "full", rng=seed_w,
                          gamma=1.0 if np.isnan(g) else g)
        lam[i] = fim_lambda_max(model, X[:batch_size], iters=fim_iters, tol=1e-4,
                                rng=seed_v).lambda_max
    predicted = 2 * C * (1 + momentum) / lam
    cell = functools.partial(_run_cell, X=X, T=T, widths=tuple(widths), steps=steps,
                             batch_size=batch_size, momentum=momentum, seed_w=seed_w,
                             seed_t=seed_t, window=window)
    results = run_sweep(cell, grid(gamma=[float(g) for g in gam], lr=[float(r) for r in lrs]),
                        executor=executor, n_jobs=n_jobs)
    failed = [r for r in results if not r.ok]
    if failed:   # divergence is recorded inside a cell; an exception is a bug, so say so
        raise RuntimeError(f"{len(failed)} sweep cells failed; first: {failed[0].point}: "
                           f"{failed[0].error}")
    final = np.array([r.value[0] for r in results]).reshape(gam.size, lrs.size)
    div = np.array([r.value[1] for r in results]).reshape(gam.size, lrs.size)
    measured = np.array([lrs[row][0] if row.any() else np.inf for row in div])
    return GammaLRSweep(gam, lrs, final, div, lam, predicted, measured, args)
