r"""How far could *any* per-channel rescale isolate one end of the next layer's spectrum?

:func:`lmsbn.experiments.chai.variant_isolation` measures that the ``amplify`` / ``suppress``
variants (lmsbn's own design: channels weaker / stronger than the median rescaled to it) do not
reach the issue's targets -- own end of the next conv layer's input autocorrelation :math:`R`
moved 2x, other end held within 10 %, relative to ``center``. This module asks whether a better
*per-channel* design could, so that "the variant family cannot isolate on this data" is a
computed finding that could have come out the other way (and does, on MNIST), not a sentence.

For each seed and each conv layer whose input comes from a normalisation, at initialisation, it
takes the ``center`` network's :math:`R` (the very matrix :func:`variant_isolation` measures) and
searches over every one-sided per-channel factor :math:`d` -- what a normalisation can do
per channel, and exactly what the variant network's :math:`R` is for the first layer after a
normalisation at initialisation, :math:`D R D` with :math:`D = \operatorname{diag}(d)` expanded
over the kernel taps of each channel (ReLU and max-pooling are positively homogeneous per
channel; see :mod:`lmsbn.experiments.chai.isolation`):

* ``amplify``: :math:`d_c \ge 1`; maximise :math:`\lambda_{min}(DRD)/\lambda_{min}(R)` subject to
  :math:`\lambda_{max}(DRD)/\lambda_{max}(R) \le 1.1`;
* ``suppress``: :math:`0 < d_c \le 1`; maximise :math:`\lambda_{max}(R)/\lambda_{max}(DRD)`
  subject to :math:`\lambda_{min}(DRD)/\lambda_{min}(R) \ge 0.9`.

(With :math:`D \succeq I` no eigenvalue falls, with :math:`D \preceq I` none rises, so these are
the issue's two-sided 10 % conditions.) For deeper layers the same :math:`DRD` is what the
rescale alone does, before the changed inputs of earlier normalisations.

The result is **the best found by search**: a design that meets the constraints, measured by
its own eigendecomposition, hence a *lower bound* on what per-channel rescaling can achieve.
The search is a log-barrier interior-point method on a convex reformulation (Notes), run from
several starts -- the adopted variant's own factors, all ones, and random one-sided factors
drawn from ``rng`` -- whose agreement is recorded; a search that converged reports the same
factor from every start. Next to it the result reports what the adopted median-reference
variants achieve on the same :math:`R`, so a student sees how far that design is from the best
per-channel one.

**Measured** (``isolation_ceiling(seeds=(0, 1, 2))``, conv2 and conv3 at initialisation: 6
layer-seeds per dataset; every start agreed to 4e-8). Procedural data: the best ``amplify``
found gives :math:`\lambda_{min}` x1.26-1.41 (conv2 x1.30-1.38), the best ``suppress``
:math:`\lambda_{max}` /1.29-1.58 (conv2 /1.36-1.58), with the other end held at the 10 % limit:
no per-channel rescale found reaches 2x, in 0 of 6 for either variant. The adopted median design
gives x1.05-1.36 with :math:`\lambda_{max}` x1.06-1.15 and /1.17-1.34 with
:math:`\lambda_{min}` x0.84-0.97. MNIST (the first 1000 images of ``mnist5k.npz``): x1.27-2.49
and /1.34-2.76; 2x is reached for seed 2 (conv2 x2.49 and /2.76, conv3 /2.06), so the finding
can and does come out the other way on other data.

References
----------
Boyd, Vandenberghe (2004), *Convex Optimization*, Cambridge University Press: chapter 11 (the
barrier method and its duality gap) and chapter 3 (convexity of :math:`\lambda_{max}`,
concavity of :math:`\lambda_{min}` of a symmetric matrix affine in the variables).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import (
    as_float_array,
    as_generator,
    check_choice,
    check_int,
    check_positive,
    describe,
)
from lmsbn.experiments._inputs import _data, _seed, _widths
from lmsbn.experiments.chai.isolation import (
    HOLD,
    RAISE,
    _check_seeds,
    _rescaled,
    _seeded_cnn,
    _spectra_and_sigmas,
    normalised_convs,
)
from lmsbn.io import Result, rng_param

__all__ = ["IsolationCeiling", "best_channel_rescale", "channel_gradients", "isolation_ceiling"]

CEILING_VARIANTS = ("amplify", "suppress")


def channel_gradients(R, d, n_channels: int) -> np.ndarray:
    r"""Gradients of the extreme eigenvalues of :math:`DRD` with respect to per-channel factors.

    Parameters
    ----------
    R : ndarray (K, K)
        Symmetric; its columns are channel-major (``K = n_channels * k``, im2col's order).
    d : ndarray (C,)
        Positive per-channel factors; :math:`D = \operatorname{diag}(d)` repeated over the ``k``
        columns of each channel.
    n_channels : int

    Returns
    -------
    ndarray (2, C)
        :math:`\partial\lambda_{min}/\partial d_c` (row 0) and
        :math:`\partial\lambda_{max}/\partial d_c` (row 1) of :math:`DRD`.

    Notes
    -----
    For a simple eigenvalue :math:`\lambda_i` of :math:`S = DRD` with unit eigenvector
    :math:`v_i`, :math:`\partial\lambda_i = v_i^\top (\partial S) v_i` (Hellmann-Feynman). With
    :math:`P_c` the projector on channel :math:`c`'s columns,
    :math:`\partial S/\partial d_c = P_c R D + D R P_c`, so

    .. math::

        \frac{\partial\lambda_i}{\partial d_c} = 2 \sum_{j \in c} v_i[j]\,(R D v_i)[j]
        = \frac{2\lambda_i}{d_c} \sum_{j \in c} v_i[j]^2,

    the second form because :math:`R D v_i = \lambda_i D^{-1} v_i`. In logarithms,
    :math:`\partial\log\lambda_i/\partial\log d_c = 2 w_i[c]` with :math:`w_i[c]` the weight of
    :math:`v_i` on channel :math:`c` (:math:`\sum_c w_i[c] = 1`): a channel rescale moves an end of
    the spectrum in proportion to how much of that end's eigenvector lives on the channel. An
    eigenvalue of multiplicity > 1 is not differentiable; the formula then depends on which
    eigenvector of the eigenspace the solver returns.
    """
    R, d, k = _check_r(R, n_channels, d)
    dk = np.repeat(d, k)
    _, V = np.linalg.eigh(dk[:, None] * R * dk[None, :])
    v = V[:, [0, -1]]
    return 2.0 * (v * (R @ (dk[:, None] * v))).reshape(len(d), k, 2).sum(axis=1).T


def _check_r(R, n_channels, d=None):
    # float64 whatever R's dtype: the barrier's log-determinants need its precision
    R = as_float_array(R, "R", ndim=2, dtype=np.float64)
    n_channels = check_int(n_channels, "n_channels", min_value=1)
    if R.shape[0] != R.shape[1] or R.shape[0] % n_channels:
        raise ValueError(f"R must be square with a side divisible by n_channels={n_channels}, "
                         f"got shape {R.shape}")
    asym = float(np.max(np.abs(R - R.T)))
    if asym > 1e-10 * np.max(np.abs(R)):
        raise ValueError(f"R must be symmetric, got max |R - R^T| = {asym:.3g}")
    if d is None:
        return R, R.shape[0] // n_channels
    d = as_float_array(d, "d", ndim=1, dtype=np.float64)
    if d.shape != (n_channels,) or not np.all(d > 0):
        raise ValueError(f"d must hold {n_channels} positive factors, got {describe(d)}")
    return R, d, R.shape[0] // n_channels


def _barrier(B, k, variant, e, z, hold, lam0_min, mu, iters=50):
    r"""Newton's method on the barrier problem of one stage: the maximiser of
    :math:`\pm z/\mu + \log\det G_1 + \log\det G_2 + \sum_c \log(\text{box slack}_c)` (Notes of
    :func:`best_channel_rescale`) from the strictly feasible ``(e, z)``."""
    C, K = e.shape[0], B.shape[0]
    amp = variant == "amplify"
    # Each LMI is G = c M(e) + (a + b z) I, M(e) = B E B; (c, a, b) per variant.
    lmis = ((1.0, 0.0, -1.0), (-1.0, 1.0 + hold, 0.0)) if amp else \
        ((1.0, -(1.0 - hold) * lam0_min, 0.0), (-1.0, 0.0, 1.0))
    sz = 1.0 if amp else -1.0
    eye = np.eye(K)

    def parts(e, z):
        """(barrier value, [G_1, G_2], box slack), or None outside the feasible set; Cholesky
        both tests definiteness and gives log det, at a fraction of an eigendecomposition."""
        box = e - 1.0 if amp else 1.0 - e
        if box.min() <= 0:
            return None
        M = B * np.repeat(e, k)[None, :] @ B
        gs = [c * M + (a + b * z) * eye for c, a, b in lmis]
        try:
            logdet = sum(2.0 * np.sum(np.log(np.diag(np.linalg.cholesky(g)))) for g in gs)
        except np.linalg.LinAlgError:
            return None
        return sz * z / mu + logdet + np.sum(np.log(box)), gs, box

    cur = parts(e, z)
    for _ in range(iters):
        val, gs, box = cur
        grad = np.zeros(C + 1)
        hess = np.zeros((C + 1, C + 1))
        for (c, _, b), g in zip(lmis, gs):
            gi = np.linalg.inv(g)
            W = gi @ B                            # G^{-1} B
            P = B @ W                             # B G^{-1} B
            grad[:C] += c * np.diag(P).reshape(C, k).sum(axis=1)
            grad[C] += b * np.trace(gi)
            hess[:C, :C] -= (P * P).reshape(C, k, C, k).sum(axis=(1, 3))
            hess[:C, C] -= c * b * np.sum(W * W, axis=0).reshape(C, k).sum(axis=1)
            hess[C, C] -= b * b * np.sum(gi * gi)
        hess[C, :C] = hess[:C, C]
        grad[:C] += (1.0 if amp else -1.0) / box
        hess[np.arange(C), np.arange(C)] -= 1.0 / box ** 2
        grad[C] += sz / mu
        try:
            step = np.linalg.solve(-hess, grad)
        except np.linalg.LinAlgError:
            break
        dec = float(grad @ step)                  # Newton decrement squared
        if not dec > 1e-8:
            break
        t = 1.0
        while t > 1e-6:                           # below: stalled at round-off
            nxt = parts(e + t * step[:C], z + t * step[C])
            if nxt is not None and nxt[0] >= val + 0.25 * t * dec:
                break
            t *= 0.5
        else:
            break
        e, z, cur = e + t * step[:C], z + t * step[C], nxt
    return e, z


def _feasible_start(R, k, variant, d0, hold):
    """``d0`` pulled towards all ones until the other end has moved at most ``hold / 2``, then
    scaled by ``1 +- hold / 10`` to lie strictly inside the constraints (as ``e = d**2``)."""
    ev = np.linalg.eigvalsh(R)
    amp = variant == "amplify"

    def ok(e):
        ek = np.sqrt(np.repeat(e, k))
        lam = np.linalg.eigvalsh(ek[:, None] * R * ek[None, :])
        return lam[-1] <= (1 + hold / 2) * ev[-1] if amp else lam[0] >= (1 - hold / 2) * ev[0]

    e0 = np.asarray(d0, dtype=float) ** 2
    lo, hi = 0.0, 1.0
    if not ok(e0):
        for _ in range(40):         # the other end moves monotonically along the segment
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if ok(1.0 + mid * (e0 - 1.0)) else (lo, mid)
    else:
        lo = 1.0
    return (1.0 + lo * (e0 - 1.0)) * (1.0 + hold / 10 if amp else 1.0 - hold / 10)


def best_channel_rescale(R, n_channels: int, variant: str, *, hold: float = HOLD, starts=(),
                         restarts: int = 2, rng=None, tol: float = 1e-5) -> dict:
    r"""The best one-sided per-channel rescale of ``R`` found by search, for one variant.

    Parameters
    ----------
    R : ndarray (K, K)
        Symmetric positive definite, columns channel-major (``K = n_channels * k``).
    n_channels : int
    variant : {"amplify", "suppress"}
    hold : float, default 0.10
        How far (relative) the other end of the spectrum may move.
    starts : sequence of ndarray (C,)
        Factors to start from (one-sided: >= 1 for ``amplify``, in (0, 1] for ``suppress``);
        all ones is always added.
    restarts : int, default 2
        Random one-sided starts added, :math:`\exp(\pm|z|)`, :math:`z \sim N(0, 0.5^2)`.
    rng : None, int or numpy.random.Generator
        For the random starts.
    tol : float, default 1e-5
        Relative duality gap of the barrier method at which a start stops.

    Returns
    -------
    dict
        ``gain`` (the own end's factor, >= 1 means moved the named way), ``other`` (the other
        end's factor), ``factors`` (C,) of the best start, ``per_start`` (the gain of each
        start, all ones first), each measured on :math:`DRD` by its own eigendecomposition.

    Notes
    -----
    The eigenvalues of :math:`DRD = A^\top A` are those of :math:`M(e) = A A^\top =
    R^{1/2} E R^{1/2}` (:math:`A = R^{1/2} D`, :math:`E = D^2`), which is *affine* in
    :math:`e = d^2`; :math:`\lambda_{min}(M)` is concave and
    :math:`\lambda_{max}(M)` convex in :math:`e` (Boyd & Vandenberghe, chapter 3). So
    ``amplify`` is the convex problem

    .. math::

        \max_{e,\,t}\; t \quad\text{s.t.}\quad M(e) \succeq tI,\;
        M(e) \preceq (1 + h)\lambda_{max}(R)\,I,\; e \ge 1,

    and ``suppress`` the convex problem :math:`\min_{e,s} s` s.t. :math:`M(e) \preceq sI`,
    :math:`M(e) \succeq (1 - h)\lambda_{min}(R)\,I`, :math:`0 < e \le 1`. Each start follows the
    central path of the log-barrier :math:`\pm z/\mu + \log\det G_1 + \log\det G_2 +
    \sum_c \log(\text{slack}_c)` (Newton's method with backtracking; the gradient and Hessian of
    :math:`\log\det G` are :math:`\operatorname{tr}(G^{-1}G_a)` and
    :math:`-\operatorname{tr}(G^{-1}G_a G^{-1}G_b)`), with :math:`\mu` divided by 10 until
    :math:`m\mu` (:math:`m = 2K + C`, the barrier's degree, bounding the duality gap on the
    central path) is below ``tol`` times the objective. Convexity means every start heads for
    the same optimum, which ``per_start`` lets a reader check. The reported factors are
    nevertheless only a feasible point: a lower bound on the optimum.
    """
    variant = check_choice(variant, "variant", CEILING_VARIANTS)
    R, k = _check_r(R, n_channels)
    ev, U = np.linalg.eigh(R)
    if not ev[0] > 0:
        raise ValueError(f"R must be positive definite, got smallest eigenvalue {ev[0]:.3g}")
    hold = check_positive(hold, "hold")
    if hold >= 1:
        raise ValueError(f"hold must lie in (0, 1), got {hold!r}")
    restarts = check_int(restarts, "restarts", min_value=0)
    gen = as_generator(rng)
    amp = variant == "amplify"
    Rn = R / ev[-1]                       # lambda_max 1: the tolerances are relative
    B = (U * np.sqrt(ev / ev[-1])) @ U.T  # Rn^{1/2}
    lam0_min = ev[0] / ev[-1]
    C = n_channels
    inits = [np.ones(C)]
    for s in starts:
        s = as_float_array(s, "starts entry", ndim=1)
        if s.shape != (C,) or not (np.all(s >= 1) if amp else np.all((s > 0) & (s <= 1))):
            raise ValueError(f"starts entries must hold {C} factors "
                             f"{'>= 1' if amp else 'in (0, 1]'}, got {describe(s)}")
        inits.append(s)
    inits += [np.exp((1.0 if amp else -1.0) * np.abs(gen.normal(0.0, 0.5, C)))
              for _ in range(restarts)]
    m = 2 * R.shape[0] + C
    gains, others, factors = [], [], []
    for d0 in inits:
        e = _feasible_start(Rn, k, variant, d0, hold)
        lam = np.linalg.eigvalsh(B * np.repeat(e, k)[None, :] @ B)
        z = lam[0] / 2 if amp else 2 * lam[-1]
        mu = abs(z)
        for _ in range(40):          # mu falls 10x a stage: tol is met long before 40
            e, z = _barrier(B, k, variant, e, z, hold, lam0_min, mu)
            if m * mu < tol * abs(z):
                break
            mu /= 10.0
        dk = np.sqrt(np.repeat(e, k))
        lam = np.linalg.eigvalsh(dk[:, None] * R * dk[None, :])
        own, other = ((lam[0] / ev[0], lam[-1] / ev[-1]) if amp
                      else (ev[-1] / lam[-1], lam[0] / ev[0]))
        gains.append(own)
        others.append(other)
        factors.append(np.sqrt(e))
    best = int(np.argmax(gains))
    return {"gain": float(gains[best]), "other": float(others[best]), "factors": factors[best],
            "per_start": np.asarray(gains)}


@dataclass
class IsolationCeiling(Result):
    r"""The best one-sided per-channel rescale found for each normalised conv layer's R.

    Attributes
    ----------
    layers : tuple of str
        The conv layers whose input comes from a normalisation (e.g. ``conv2, conv3``).
    seeds : ndarray of int (S,)
    best : ndarray (2, S, L, 2)
        For ``amplify`` then ``suppress``: the own end's factor as a gain (``amplify``
        :math:`\lambda_{min}(DRD)/\lambda_{min}(R)`, ``suppress``
        :math:`\lambda_{max}(R)/\lambda_{max}(DRD)`) of the best design found, and the other
        end's factor (within 10 % by construction); NaN where R is singular.
    adopted : ndarray (2, S, L, 2)
        The same two numbers for the adopted median-reference variant's own factors on the same
        R (:func:`lmsbn.experiments.chai.isolation._rescaled`); its other end is not held.
    factors : ndarray (2, S, L, C_max)
        The best design's per-channel factors :math:`d_c`, NaN-padded past a layer's channels.
    per_start : ndarray (2, S, L, P)
        The gain reached from each start: all ones, the variant's own factors, then the random
        ones; equal up to the barrier's tolerance when the search converged.
    sensitivity : ndarray (S, L, 2, C_max)
        :math:`\partial\log\lambda_{min}/\partial\log d_c` and
        :math:`\partial\log\lambda_{max}/\partial\log d_c` at :math:`d = 1`
        (:func:`channel_gradients`): twice the weight of each end's eigenvector on channel c.
    params : dict
    """

    layers: tuple
    seeds: np.ndarray
    best: np.ndarray
    adopted: np.ndarray
    factors: np.ndarray
    per_start: np.ndarray
    sensitivity: np.ndarray
    params: dict = field(default_factory=dict)

    def reaches(self, variant: str) -> np.ndarray:
        """(S, L) bool: the best design found moves ``variant``'s own end >= 2x (other held)."""
        v = CEILING_VARIANTS.index(check_choice(variant, "variant", CEILING_VARIANTS))
        with np.errstate(invalid="ignore"):
            return self.best[v, ..., 0] >= RAISE

    @property
    def overlap(self) -> np.ndarray:
        r"""(S, L): :math:`\sum_c \min(w_{min}[c], w_{max}[c])`, how much of the two ends'
        eigenvectors (at :math:`d = 1`) lives on the same channels: 0 lets a per-channel rescale
        move one end alone; near 1 every channel that moves one end moves the other."""
        w = self.sensitivity / 2.0
        return np.nansum(np.minimum(w[..., 0, :], w[..., 1, :]), axis=-1)

    @property
    def agreement(self) -> np.ndarray:
        """(2, S, L): largest relative spread of the gain over the starts (0: all agree)."""
        with np.errstate(invalid="ignore"):
            return self.per_start.max(axis=-1) / self.per_start.min(axis=-1) - 1.0

    def table(self) -> list[dict]:
        """One row per (seed, layer): best and adopted factors of both variants, overlap."""
        rows = []
        for s, j in np.ndindex(len(self.seeds), len(self.layers)):
            row = {"seed": int(self.seeds[s]), "layer": self.layers[j]}
            for v, name in enumerate(CEILING_VARIANTS):
                row.update({f"{name}_best": float(self.best[v, s, j, 0]),
                            f"{name}_best_other": float(self.best[v, s, j, 1]),
                            f"{name}_adopted": float(self.adopted[v, s, j, 0]),
                            f"{name}_adopted_other": float(self.adopted[v, s, j, 1]),
                            f"{name}_agreement": float(self.agreement[v, s, j])})
            row["overlap"] = float(self.overlap[s, j])
            rows.append(row)
        return rows

    def verdict(self) -> str:
        """Per variant: can a per-channel rescale reach the 2x target on this data, computed."""
        parts = []
        for v, (name, own, other) in enumerate((("amplify", "lambda_min", "lambda_max"),
                                                ("suppress", "lambda_max", "lambda_min"))):
            best, adopted = self.best[v], self.adopted[v]
            ok = np.isfinite(best[..., 0])
            n, hit = int(ok.sum()), int(np.sum(self.reaches(name) & ok))
            if not n:
                parts.append(f"{name}: not measured (no layer has a positive definite R)")
                continue
            held = int(np.sum((np.abs(adopted[..., 1] - 1.0) <= HOLD) & ok))
            text = (f"{name}: best found by search {own} {'x' if v == 0 else '/'}"
                    f"{np.nanmin(best[..., 0]):.2f}-{np.nanmax(best[..., 0]):.2f} (median "
                    f"{np.nanmedian(best[..., 0]):.2f}) with {other} within {HOLD:.0%}; ")
            text += (f"per-channel rescaling can reach the {RAISE:g}x target here ({hit}/{n} "
                     "layer-seeds)" if hit else
                     f"no per-channel rescale found reaches {RAISE:g}x: the variant family cannot "
                     f"isolate on this data (0/{n} layer-seeds)")
            text += (f"; the adopted median design gives {'x' if v == 0 else '/'}"
                     f"{np.nanmedian(adopted[..., 0]):.2f} (median) with {other} "
                     f"x{np.nanmedian(adopted[..., 1]):.2f}, held within {HOLD:.0%} in "
                     f"{held}/{n}")
            parts.append(text)
        return (f"Per-channel isolation ceiling ({self.params.get('data', '?')} data; a lower "
                "bound on what any one-sided per-channel rescale achieves): " + ". ".join(parts)
                + ".")

    def summary(self) -> str:
        """A table of the best and the adopted factors per seed and layer, and the verdict."""
        lines = [f"isolation ceiling at initialisation ({self.params.get('data', '?')} data): "
                 "own-end gain / other-end factor of the best one-sided per-channel D found, "
                 "and of the adopted variant's D, on the center network's R",
                 f"{'seed':>4} {'layer':<7}{'amp best':>9}{'max':>6}{'adopted':>8}{'max':>6}"
                 f"{'sup best':>10}{'min':>6}{'adopted':>8}{'min':>6}{'overlap':>9}"
                 f"{'starts':>8}"]
        for r in self.table():
            lines.append(f"{r['seed']:>4} {r['layer']:<7}"
                         f"{r['amplify_best']:>9.2f}{r['amplify_best_other']:>6.2f}"
                         f"{r['amplify_adopted']:>8.2f}{r['amplify_adopted_other']:>6.2f}"
                         f"{r['suppress_best']:>10.2f}{r['suppress_best_other']:>6.2f}"
                         f"{r['suppress_adopted']:>8.2f}{r['suppress_adopted_other']:>6.2f}"
                         f"{r['overlap']:>9.2f}"
                         f"{max(r['amplify_agreement'], r['suppress_agreement']):>8.0e}")
        return "\n".join(lines + [self.verdict()])

    @classmethod
    def _example(cls) -> IsolationCeiling:
        best = np.tile([1.4, 1.1], (2, 2, 2, 1))
        best[1, 0, 1, 0] = 2.5
        adopted = np.tile([1.3, 1.15], (2, 2, 2, 1))
        factors = np.full((2, 2, 2, 4), np.nan)
        factors[..., :3] = 1.2
        sens = np.tile([[0.5, 0.5, 0.5, 0.5], [0.7, 0.7, 0.3, 0.3]], (2, 2, 1, 1))
        return cls(("conv2", "conv3"), np.array([0, 1]), best, adopted, factors,
                   np.tile([1.4, 1.4, 1.3999], (2, 2, 2, 1)), sens,
                   {"data": "shapes", "widths": [8, 16, 16], "rng": 0, "restarts": 1})


def isolation_ceiling(*, X=None, y=None, seeds=(0,), widths=(8, 16, 16), n_train: int = 1000,
                      n_probe: int = 256, max_rows: int = 8192, layers=None, restarts: int = 1,
                      rng=0) -> IsolationCeiling:
    r"""The best one-sided per-channel rescale found, per seed and normalised conv layer.

    Parameters
    ----------
    X, y : optional
        Images (N, C, H, W) or (N, H, W) and integer labels; default ``n_train`` procedural
        images (:func:`lmsbn.data.shapes`, seed ``rng``), the data of
        :func:`lmsbn.experiments.chai.variant_isolation` with the same arguments.
    seeds : sequence of int, default (0,)
        Initialisation seeds (the convention of :func:`variant_isolation`).
    widths : sequence of int, default (8, 16, 16)
        ``small_cnn`` conv widths.
    n_train : int, default 1000
        Procedural images when ``X`` is not given.
    n_probe : int, default 256
        Images (the first of X) whose regressors give each R, in training-mode BatchNorm.
    max_rows : int, default 8192
        Regressor rows kept per layer.
    layers : sequence of str, optional
        A subset of the conv layers directly after a normalisation (default all of them).
    restarts : int, default 1
        Random starts per search, besides all ones and the variant's own factors.
    rng : None, int or numpy.random.Generator, default 0
        An int seeds the procedural data, the row subsampling (as in
        :func:`variant_isolation`) and the random starts; otherwise one int seed is drawn from it.

    Returns
    -------
    IsolationCeiling
        ``best``, ``adopted``, ``reaches(variant)``, ``overlap``, ``summary()``, ``verdict()``.

    Notes
    -----
    Each search is :func:`best_channel_rescale` on the ``center`` network's R at
    initialisation: the best found is a feasible design, so a *lower bound* on the best any
    one-sided per-channel design can do (a search, not a proof, even though the problem is
    convex and the starts agree). For the first normalised layer it is exactly the best
    ``amplify``/``suppress``-like normalisation could do to that layer at initialisation.
    """
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        seed0 = check_int(rng, "rng", min_value=0)
    else:
        seed0 = _seed(as_generator(rng))
    data = "shapes" if X is None and y is None else "given"
    X, y = _data(X, y, check_int(n_train, "n_train", min_value=2), seed0)
    seeds = _check_seeds(seeds)
    params = {"widths": list(_widths(widths)),
              "n_probe": check_int(n_probe, "n_probe", min_value=2),
              "max_rows": check_int(max_rows, "max_rows", min_value=1),
              "restarts": check_int(restarts, "restarts", min_value=0), "rng": rng_param(rng),
              "seed": seed0, "n_train": int(X.shape[0]), "data": data}
    n_classes = int(y.max()) + 1
    gen = np.random.default_rng(seed0)
    out = None
    for s, seed in enumerate(seeds):
        model, _ = _seeded_cnn(X, n_classes, tuple(params["widths"]), "center", seed)
        feeds = normalised_convs(model)
        if out is None:
            names = tuple(feeds) if layers is None else tuple(layers)
            if isinstance(layers, str) or not names or not set(names) <= set(feeds):
                raise ValueError(f"layers must be a non-empty subset of {tuple(feeds)}, "
                                 f"got {layers!r}")
            c_max = max(model[n].params["weight"].shape[1] for n in names)
            S, L, P = len(seeds), len(names), 2 + params["restarts"]
            out = {"best": np.full((2, S, L, 2), np.nan), "adopted": np.full((2, S, L, 2), np.nan),
                   "factors": np.full((2, S, L, c_max), np.nan),
                   "per_start": np.full((2, S, L, P), np.nan),
                   "sensitivity": np.full((S, L, 2, c_max), np.nan)}
        measured = _spectra_and_sigmas(model, X[:params["n_probe"]], names, feeds,
                                       params["max_rows"], seed0)
        for j, (spec, sigma) in enumerate(measured):
            C, ref = sigma.shape[0], np.median(sigma)
            rs = _rescaled(spec, sigma, ref)
            out["adopted"][:, s, j] = [[rs[0], rs[1]], [1.0 / rs[3], rs[2]]]
            if not spec.lambda_min > 0:
                continue            # singular R: no factor is defined; NaN records it
            grads = channel_gradients(spec.R, np.ones(C), C)
            out["sensitivity"][s, j, :, :C] = grads / np.array([[spec.lambda_min],
                                                                [spec.lambda_max]])
            for v, (name, clip) in enumerate((("amplify", np.minimum),
                                              ("suppress", np.maximum))):
                found = best_channel_rescale(spec.R, C, name, starts=[ref / clip(sigma, ref)],
                                             restarts=params["restarts"], rng=gen)
                out["best"][v, s, j] = found["gain"], found["other"]
                out["factors"][v, s, j, :C] = found["factors"]
                out["per_start"][v, s, j] = found["per_start"]
    return IsolationCeiling(names, np.asarray(seeds, dtype=np.int64), params=params, **out)
