"""One case of :func:`lmsbn.experiments.chai.bound_check`: the runs and what is measured on them.

For one (dataset, norm, seed): lambda_max(G) at initialisation, the onset and blow-up searches
on the learning-rate grid, the sharpness along the onset run and the run one grid step below
it, the full loss Hessian's lambda_max at t = 0 and at the step before the first rise, and the
dead ReLU channels at the end of the run below the onset. The reading of these numbers (the
verdict) is :class:`lmsbn.experiments.chai.BoundCheck`'s.
"""

from __future__ import annotations

import numpy as np

from lmsbn.bridge import gn_lambda_max, hessian_lambda_max
from lmsbn.nn import ReLU, small_cnn
from lmsbn.train import Callback, train

_K_FLOOR = -16  # the grid never goes below lr_max * ratio**-16 (0.028 lr_max at ratio 1.25)


def _rise(loss, diverged, window):
    """First step t in 1..window whose loss is not below the previous one, or -1.

    A run that diverged is given an infinite loss just after its last recorded one, so a blow-up
    inside the window counts as a rise.
    """
    loss = np.append(loss, np.inf) if diverged else np.asarray(loss)
    for t in range(1, min(window, loss.size - 1) + 1):
        if not loss[t] < loss[t - 1]:  # a NaN or inf loss is a rise as well
            return t
    return -1


class _Snapshots(Callback):
    """Training callback keeping theta_t (flat) at the requested steps t (theta_0 = the start)."""

    def __init__(self, keep):
        self.keep, self.theta = set(keep), {}

    def _take(self, model, t):
        if t in self.keep:
            self.theta[t] = model.parameters_vector()

    def on_train_begin(self, model):
        self._take(model, 0)

    def on_step(self, event):
        self._take(event.model, event.step + 1)


def _dead_channels(model, X):
    """Fraction of the channels after the ReLUs that are zero on every image of ``X``."""
    dead, total = 0, 0
    with np.errstate(over="ignore", invalid="ignore"):
        for _, layer in model.named_layers():
            X = layer.forward(X, train=True)
            if isinstance(layer, ReLU):
                alive = (X > 0).any(axis=0).reshape(X.shape[1], -1).any(axis=1)
                dead, total = dead + int(np.sum(~alive)), total + alive.size
    return dead / total if total else np.nan


def _case(*, dataset, norm, seed, data, widths, ratio, k_start, k_max, onset_steps,
          blowup_steps, sharp_every, iters, tol):
    """One (dataset, norm, seed): lr_max at init, the onset and blow-up searches, sharpness."""
    X, y, n_classes = data[dataset]
    init_ss = np.random.SeedSequence(seed)

    def fresh():
        return small_cnn(X.shape[1], n_classes, widths, norm, rng=np.random.default_rng(init_ss),
                         dtype=X.dtype)

    est = gn_lambda_max(fresh(), X, iters=iters, tol=tol, rng=seed)
    lam0 = float(est.lambda_max)
    lr_max = 2.0 / lam0
    runs = {}  # k -> (History, model, snapshots)
    track = sorted(set(range(0, onset_steps + 1, sharp_every)) | set(range(onset_steps + 1)))

    def run(k, steps):
        if k in runs and (runs[k][0].params["steps"] >= steps or runs[k][0].diverged):
            return runs[k][0]  # a diverged run is complete whatever its budget
        model, snaps = fresh(), _Snapshots(track)
        h = train(model, X, y, steps=steps, batch_size=X.shape[0], lr=lr_max * ratio**k,
                  callbacks=[snaps], rng=0)
        runs[k] = (h, model, snaps)
        return h

    def monotone(k):
        h = run(k, onset_steps + 1)
        return _rise(h.loss, h.diverged, onset_steps) < 0

    # Onset: upward from k_start, after stepping down until a monotone lr is found.
    k_lo = k_start
    while not monotone(k_lo) and k_lo > _K_FLOOR:
        k_lo -= 1
    k_on = next((k for k in range(k_lo, k_max + 1) if not monotone(k)), None)

    # Blow-up: exponential search upward from the last monotone lr, then bisection; the result
    # is a pair of neighbouring grid lrs (finite for blowup_steps, diverged within them).
    def blew(k):
        h = run(k, blowup_steps)
        return h.diverged and h.diverged_at < blowup_steps

    base = k_lo if k_on is None else k_on - 1
    while blew(base) and base > _K_FLOOR:
        base -= 1
    k_bu, step = (base if blew(base) else None), 1
    while k_bu is None and base < k_max:
        k = min(base + step, k_max)
        if blew(k):
            k_bu = k
        else:
            base, step = k, 2 * step
    while k_bu is not None and k_bu - base > 1:
        mid = (base + k_bu) // 2
        base, k_bu = (base, mid) if blew(mid) else (mid, k_bu)

    # Sharpness along the runs at the onset and just below it, warm-started along the run.
    def sharpness(k, steps):
        _, model, snaps = runs[k]
        saved = model.parameters_vector()
        out, vecs, v = {}, {}, est.vector
        for t in steps:
            if t not in snaps.theta:
                continue
            model.set_parameters_vector(snaps.theta[t])
            e = gn_lambda_max(model, X, iters=iters, tol=tol, v0=v, rng=seed)
            out[t], vecs[t], v = float(e.lambda_max), e.vector, e.vector
        model.set_parameters_vector(saved)
        return out, vecs

    def hessian(model, v0):
        # The full Hessian at two points only (t = 0 and the step before the rise), warm-started
        # from the top Gauss-Newton vector there: v0' H v0 is already a lower bound on it.
        return float(hessian_lambda_max(model, X, y, iters=iters, tol=tol, v0=v0,
                                        rng=seed).lambda_max)

    T = len(range(0, onset_steps + 1, sharp_every))
    traj, curves = np.full((2, T), np.nan), np.full((2, onset_steps + 1), np.nan)
    rise, lam_rise, hess_rise, dead = -1, np.nan, np.nan, np.nan
    hess0 = hessian(fresh(), est.vector)
    for row, k in enumerate((k_on, None if k_on is None else k_on - 1)):
        if k in runs:
            loss = runs[k][0].loss[:onset_steps + 1]
            curves[row, :loss.size] = loss
    if k_on is not None:
        h = runs[k_on][0]
        rise = _rise(h.loss, h.diverged, onset_steps)
        got, vecs = sharpness(k_on, [*range(0, onset_steps + 1, sharp_every), rise - 1])
        lam_rise = got.get(rise - 1, np.nan)
        traj[0] = [got.get(t, np.nan) for t in range(0, onset_steps + 1, sharp_every)]
        if rise - 1 in vecs and np.all(np.isfinite(vecs[rise - 1])):
            model = fresh()
            model.set_parameters_vector(runs[k_on][2].theta[rise - 1])
            hess_rise = hessian(model, vecs[rise - 1])
        if k_on - 1 in runs:
            got, _ = sharpness(k_on - 1, range(0, onset_steps + 1, sharp_every))
            traj[1] = [got.get(t, np.nan) for t in range(0, onset_steps + 1, sharp_every)]
            model, snaps = fresh(), runs[k_on - 1][2]
            model.set_parameters_vector(snaps.theta[max(snaps.theta)])
            dead = _dead_channels(model, X)
    ks = sorted(runs)
    return {"lambda0": lam0, "lr_max": lr_max, "converged": bool(est.converged),
            "k_onset": -999 if k_on is None else k_on, "k_blowup": -999 if k_bu is None else k_bu,
            "rise_step": rise, "lambda_at_rise": lam_rise, "hessian0": hess0,
            "hessian_at_rise": hess_rise, "dead_below": dead, "trajectory": traj, "curves": curves,
            "probe_k": np.array(ks), "probe_steps": np.array([runs[k][0].loss.size for k in ks]),
            "probe_rise": np.array([_rise(runs[k][0].loss, runs[k][0].diverged, onset_steps)
                                    for k in ks]),
            "probe_diverged_at": np.array([runs[k][0].diverged_at for k in ks]),
            "probe_last_loss": np.array([runs[k][0].loss[-1] for k in ks]),
            "probe_blowup_checked": np.array([runs[k][0].params["steps"] >= blowup_steps
                                              or runs[k][0].diverged for k in ks])}
