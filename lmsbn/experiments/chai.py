r"""Chai, Pilanci & Murmann (2020): BatchNorm seen through classical adaptive-filter theory.

The paper's abstract (the only part of it the project has) makes three claims; each experiment
here measures one of them on the procedural
dataset (:func:`lmsbn.data.shapes`, the offline default) or on data you pass in (e.g. MNIST):

=========================  ========================================================================
:func:`eigen_spectra`      claim (1): a conv layer's update has natural modes set by the eigenvalues
                           of its input autocorrelation R, and BatchNorm controls them through R's
                           channel structure -- including the scale test (inputs x10: without BN
                           the deeper layers' eigenvalues grow x100, with BN they do not).
:func:`lr_sweep`           claim (2): at low learning rates BN's amplification of the smallest
                           eigenvalues buys speed; at high ones its suppression of the largest buys
                           stability (the ``amplify`` / ``suppress`` BatchNorm variants separate the
                           two). Lives in :mod:`lmsbn.experiments.chai_sweep`, re-exported here.
:func:`variant_isolation`  whether ``amplify``/``suppress`` move only their own end of the next
                           layers' spectra, relative to ``center`` (:mod:`.chai_isolation`; the
                           variants are lmsbn's own design, not the paper's).
:func:`bound_check`        the stability bound in the units of ``train``: the onset and blow-up
                           learning rates of full-batch descent against 2/lambda_max of the
                           Gauss-Newton matrix (:mod:`lmsbn.experiments.chai_bound`, re-exported).
:func:`first_step`         claim (3), stated exactly: per filter, BatchNorm's step is the NLMS step
                           divided by rho; on average over the random initialisation E[rho] = 1,
                           with a per-filter spread predicted by
                           :func:`lmsbn.bridge.rho_spread`; the drift after the first step is
                           measured step by step (its direction is not assumed).
=========================  ========================================================================

Each returns a result dataclass with the arrays, the parameters, ``summary()`` and
``save``/``load`` (:mod:`lmsbn.io`); the figures are in :mod:`lmsbn.plot.sweeps`.

Every verdict text is generated from the measured numbers; nothing here assumes the paper is
right: whatever the simulator measures is the result, even where it disagrees with the paper.
Provenance: the claims are the abstract's; the tests of them -- the BatchNorm variants and their
reference scale, rho and its spread, the stability bounds, every threshold in a verdict -- are
lmsbn's own designs.

References
----------
Chai, Pilanci, Murmann (2020), "Separating the Effects of Batch Normalization on CNN Training
Speed and Stability Using Classical Adaptive Filter Theory", arXiv:2002.10674.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._checks import as_generator, check_choice, check_int, check_positive
from ..bridge import (
    COMBINERS, FirstStepReport, ModeTracker, capture_regressors, compare_first_step,
    layer_weights,
)
from ..io import Result
from ..nn import Conv2d, small_cnn
from ..spectral import Spectrum, channel_blocks
from ..train import train
from ._inputs import _data, _norms, _widths

__all__ = ["BoundCheck", "EigenSpectra", "FirstStep", "LRSweep", "VariantIsolation",
           "bound_check", "eigen_spectra", "first_step", "lr_sweep", "variant_isolation"]

STAGES = ("init", "trained")


# ------------------------------------------------------------------------------- shared helpers
def _seed(gen):
    return int(gen.integers(2**32))


def _eigen_stats(ev):
    lmin = float(ev[-1])
    return {"lambda_max": float(ev[0]), "lambda_min": lmin, "trace": float(np.sum(ev)),
            "spread": float(ev[0]) / lmin if lmin > 0 else float("inf")}


# ------------------------------------------------------------------------------ eigen_spectra
@dataclass
class EigenSpectra(Result):
    """Per-layer input-autocorrelation spectra with and without BatchNorm (claim 1).

    Attributes
    ----------
    norms : tuple of str
    layers : tuple of str
        The conv and linear layers, in network order.
    eigenvalues : dict ``[norm][stage][layer] -> ndarray (K,)``
        Descending eigenvalues of the *uncentred* R = U^T U / M (what LMS sees); ``stage`` is
        ``"init"`` or ``"trained"``. All NaN for a stage after a diverged training run.
    eigenvalues_scaled : dict, same layout
        The same with the input data multiplied by ``params["scale"]``.
    eigenvalues_centered : dict, same layout
        Of the covariance (mean spike removed); empty when ``center=False``.
    block_powers : dict ``[norm][stage][layer] -> ndarray (C_in,)``
        ``channel_blocks(R, C_in, (3, 3)).powers`` of each conv layer: k times each input
        channel's power.
    train_loss : dict ``[norm] -> ndarray (steps_taken,)``
    diverged : dict ``[norm] -> bool``
    params : dict
    """

    norms: tuple
    layers: tuple
    eigenvalues: dict
    eigenvalues_scaled: dict
    eigenvalues_centered: dict
    block_powers: dict
    train_loss: dict
    diverged: dict
    params: dict = field(default_factory=dict)

    def stats(self, norm: str, stage: str = "init", *, centered: bool = False) -> dict:
        """``{layer: {"lambda_max", "lambda_min", "spread", "trace"}}`` for one norm and stage."""
        source = self.eigenvalues_centered if centered else self.eigenvalues
        if centered and not source:
            raise ValueError("centred spectra were not computed (eigen_spectra(center=False))")
        norm = check_choice(norm, "norm", self.norms)
        stage = check_choice(stage, "stage", STAGES)
        return {layer: _eigen_stats(ev) for layer, ev in source[norm][stage].items()}

    def scale_ratios(self, norm: str, stage: str = "init", *, what: str = "trace") -> dict:
        r"""``{layer: (measure with scaled input) / (measure with the original input)}``.

        ``what`` is ``"trace"`` (the total input power, robust) or ``"lambda_max"``. Without
        BatchNorm a ReLU network with zero biases is positively homogeneous, so every layer's
        input scales by ``scale`` and R by ``scale**2`` (exactly at initialisation, where the
        biases are zero; approximately after training). With BatchNorm the layers after the
        first see normalised inputs and the ratio is 1 up to BatchNorm's eps.
        """
        what = check_choice(what, "what", ("trace", "lambda_max"))
        norm = check_choice(norm, "norm", self.norms)
        stage = check_choice(stage, "stage", STAGES)
        pick = np.sum if what == "trace" else np.max
        return {layer: float(pick(self.eigenvalues_scaled[norm][stage][layer])
                             / pick(self.eigenvalues[norm][stage][layer])) for layer in self.layers}

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        s = self.params["scale"]
        lines = [f"eigen_spectra: uncentred R per layer; scale test with inputs x{s:g} "
                 f"(no-BN prediction x{s * s:g} for every layer, BN prediction x1 after conv1)"]
        for norm in self.norms:
            for stage in STAGES:
                if stage == "trained" and self.diverged[norm]:
                    lines.append(f"[{norm:>8} | trained] training diverged: no trained spectra")
                    continue
                ratios = self.scale_ratios(norm, stage)
                for layer, st in self.stats(norm, stage).items():
                    lines.append(
                        f"[{norm:>8} | {stage:>7}] {layer:<6} lambda_max {st['lambda_max']:10.4g}  "
                        f"lambda_min {st['lambda_min']:10.3g}  spread {st['spread']:10.3g}  "
                        f"trace {st['trace']:10.4g}  scale ratio {ratios[layer]:8.4g}")
        return "\n".join(lines)

    @classmethod
    def _example(cls) -> EigenSpectra:
        ev = {"conv1": np.array([4.0, 1.0, 0.0]), "fc1": np.array([2.0, 0.5])}
        nest = lambda f: {n: {st: {k: f * v for k, v in ev.items()} for st in STAGES}  # noqa: E731
                          for n in ("none", "full")}
        trained_nan = nest(1.0)
        trained_nan["none"]["trained"] = {k: np.full_like(v, np.nan) for k, v in ev.items()}
        return cls(("none", "full"), ("conv1", "fc1"), trained_nan, nest(100.0), nest(0.5),
                   {n: {st: {"conv1": np.array([1.0, 2.0, 3.0])} for st in STAGES}
                    for n in ("none", "full")},
                   {"none": np.array([2.3, np.inf]), "full": np.array([2.3, 1.9])},
                   {"none": True, "full": False},
                   {"scale": 10.0, "steps": 2, "lr": 0.05, "center": True, "seed": 0})


def eigen_spectra(*, X=None, y=None, norms=("none", "full"), steps: int = 60, lr: float = 0.05,
                  batch_size: int = 32, scale: float = 10.0, center: bool = True,
                  n_data: int = 512, n_probe: int = 256, max_rows: int = 8192,
                  widths=(8, 16, 16), rng=0) -> EigenSpectra:
    r"""Per-layer eigenvalues of R with and without BatchNorm, at initialisation and trained.

    For each normalisation a ``small_cnn(norm=...)`` is built from the *same* seed (same conv
    filters for every norm), its layer spectra are taken on a probe batch, it is trained for
    ``steps`` SGD steps and the spectra are taken again. At both stages the probe batch is also
    multiplied by ``scale`` (the scale test).

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, H, W), optional
        Images (with ``y``, integer labels (N,)). Default: ``n_data`` procedural images.
    y : ndarray of int, shape (N,), optional
    norms : sequence of str, default ("none", "full")
        Normalisations to compare (any of :data:`lmsbn.nn.NORMS`).
    steps : int, default 60
        SGD steps between the "init" and the "trained" spectra.
    lr : float, default 0.05
    batch_size : int, default 32
    scale : float, default 10
        Input multiplier of the scale test.
    center : bool, default True
        Also record the centred spectra (covariance: the mean spike removed).
    n_data : int, default 512
        Procedural images generated when ``X`` is not given.
    n_probe : int, default 256
        Images in the probe batch the spectra are measured on (the first ``n_probe``).
    max_rows : int, default 8192
        Regressor rows per layer used for R (seeded subsample; the same rows for the scaled
        probe, so the scale ratios compare like with like).
    widths : sequence of int, default (8, 16, 16)
        Conv widths of :func:`lmsbn.nn.small_cnn`.
    rng : None, int or numpy.random.Generator
        Seeds the data, the initialisation, the minibatch order and the row subsampling.

    Returns
    -------
    EigenSpectra

    Notes
    -----
    The layer's R is :math:`R = U^T U / M` with U the im2col patches entering it (see
    :mod:`lmsbn.bridge`), the matrix whose eigenvalues set the modes of the block-LMS update
    :math:`W \leftarrow W - \eta\, dY^T U`. ReLU is positively homogeneous and the conv biases
    start at zero, so without BatchNorm :math:`U \to sU` at every layer and
    :math:`R \to s^2 R`; BatchNorm in training mode divides each channel by its batch standard
    deviation, so every layer after the first sees the same R whatever :math:`s`.
    """
    norms = _norms(norms)
    steps = check_int(steps, "steps", min_value=1)
    lr = check_positive(lr, "lr")
    batch_size = check_int(batch_size, "batch_size", min_value=2)
    scale = check_positive(scale, "scale")
    n_data = check_int(n_data, "n_data", min_value=2)
    n_probe = check_int(n_probe, "n_probe", min_value=2)
    max_rows = check_int(max_rows, "max_rows", min_value=2)
    widths = _widths(widths)
    gen = as_generator(rng)
    source = "shapes" if X is None else "given"
    X, y = _data(X, y, n_data, gen)
    init_seed, train_seed, probe_seed = _seed(gen), _seed(gen), _seed(gen)
    probe = X[:n_probe]
    n_classes = int(y.max()) + 1
    ev, ev_scaled, ev_centered, powers, losses, diverged = {}, {}, {}, {}, {}, {}
    layers = ()

    for norm in norms:
        model = small_cnn(X.shape[1], n_classes, widths, norm, rng=init_seed, dtype=X.dtype)
        for d in (ev, ev_scaled, ev_centered, powers):
            d[norm] = {}
        for stage in STAGES:
            if stage == "trained":
                history = train(model, X, y, steps=steps, batch_size=batch_size, lr=lr,
                                rng=train_seed)
                losses[norm], diverged[norm] = history.loss, history.diverged
            spectra = _stage_spectra(model, probe, scale, center, max_rows, probe_seed,
                                     nan=stage == "trained" and diverged[norm])
            ev[norm][stage], ev_scaled[norm][stage], ev_centered[norm][stage], \
                powers[norm][stage] = spectra
            layers = tuple(spectra[0])
    if not center:
        ev_centered = {}
    params = {"steps": steps, "lr": lr, "batch_size": batch_size, "scale": scale, "center": center,
              "n_data": int(X.shape[0]), "n_probe": int(probe.shape[0]), "max_rows": max_rows,
              "widths": list(widths), "seed": rng if isinstance(rng, int) else None,
              "data": source}
    return EigenSpectra(norms, layers, ev, ev_scaled, ev_centered, powers, losses, diverged, params)


def _stage_spectra(model, probe, scale, center, max_rows, seed, nan=False):
    """Eigenvalues (plain, scaled, centred) and channel powers of every layer, on one probe."""
    names = [n for n, layer in model.named_layers() if isinstance(layer, COMBINERS)]
    if nan:  # the weights are no longer finite: there is nothing meaningful to decompose
        blank = {n: np.full(layer_weights(model[n]).shape[1], np.nan) for n in names}
        chans = {n: np.full(model[n].in_channels, np.nan) for n in names
                 if isinstance(model[n], Conv2d)}
        return blank, dict(blank), dict(blank), chans
    # The same seed for both captures selects the same rows, so the ratios compare like with like.
    U = capture_regressors(model, probe, max_rows=max_rows, rng=seed)
    Us = capture_regressors(model, probe * scale, max_rows=max_rows, rng=seed)
    plain, scaled, centred, chans = {}, {}, {}, {}
    for name, u in U.items():
        spec = Spectrum.from_regressors(u)
        plain[name] = spec.eigenvalues.copy()
        scaled[name] = Spectrum.from_regressors(Us[name]).eigenvalues.copy()
        if center:
            centred[name] = Spectrum.from_regressors(u, center=True).eigenvalues.copy()
        layer = model[name]
        if isinstance(layer, Conv2d):
            chans[name] = channel_blocks(spec, layer.in_channels, layer.kernel_shape).powers
    return plain, scaled, centred, chans


# --------------------------------------------------------------------------------- first_step
_BN_KEYS = ("ratio", "rho", "w_norm", "bn_step", "nlms_step")


@dataclass
class FirstStep(Result):
    """BatchNorm versus NLMS on the first step and the drift afterwards (claim 3, stated exactly).

    Attributes
    ----------
    report : lmsbn.bridge.FirstStepReport
        :func:`lmsbn.bridge.compare_first_step` at ``params["probe_lr"]`` on the first batch.
    steps : dict ``[layer] -> ndarray of int (T,)``
        The recorded training steps (every ``params["every"]``).
    drift : dict ``[layer][quantity] -> ndarray (T, F)``
        Per filter, for ``quantity`` in ``ratio`` (BatchNorm step / NLMS step), ``rho``,
        ``w_norm``, ``bn_step``, ``nlms_step`` (see :func:`lmsbn.bridge.bn_nlms_quantities`).
    loss : ndarray (steps_taken,)
    diverged : bool
    params : dict
    """

    report: FirstStepReport
    steps: dict
    drift: dict
    loss: np.ndarray
    diverged: bool
    params: dict = field(default_factory=dict)

    def quartiles(self, layer: str, quantity: str = "ratio") -> np.ndarray:
        """(T, 3) array of the 25th, 50th and 75th percentiles over filters at each record."""
        layer = check_choice(layer, "layer", tuple(self.drift))
        quantity = check_choice(quantity, "quantity", _BN_KEYS)
        return np.percentile(self.drift[layer][quantity], [25, 50, 75], axis=1).T

    def drift_direction(self, layer: str) -> str:
        """``"away"``, ``"closer"`` or ``"steady"``: how median |ratio - 1| moved over training.

        "away" when it grew by more than half (and past 0.1), "closer" when it shrank by a
        third or more, else "steady" -- thresholds of lmsbn's own choosing, printed in
        :meth:`verdict` next to the numbers they judge.
        """
        layer = check_choice(layer, "layer", tuple(self.drift))
        start, end = (float(np.median(np.abs(self.drift[layer]["ratio"][i] - 1))) for i in (0, -1))
        if end > max(1.5 * start, 0.1):
            return "away"
        if end < start / 1.5:
            return "closer"
        return "steady"

    def verdict(self) -> str:
        """Claim (3) judged from the numbers: exact per filter, on average at init, then the drift.

        What holds *exactly, per filter*: BatchNorm's step is :math:`\\eta\\gamma^2/\\sigma^2`
        (its first-order prediction error is O(probe_lr)) and it equals the NLMS step divided by
        rho. What holds *in expectation over the random initialisation*: :math:`E\\rho = 1`,
        with the per-filter spread :func:`lmsbn.bridge.rho_spread`. After the first step the
        drift is measured, not assumed.
        """
        lines, moves = [], {}
        for name, c in self.report.layers.items():
            F = c.rho.size
            mean, sd, sd_pred = float(np.mean(c.rho)), float(np.std(c.rho)), float(c.rho_sd[0])
            se = sd_pred / np.sqrt(F)
            dep = float(np.median(np.abs(c.ratio - 1)))
            lines.append(
                f"{name} (K = {c.K}, {F} filters), first step at lr {self.report.lr:g}: exact per "
                f"filter -- BatchNorm's step lr gamma^2/sigma^2 predicts its output change to "
                f"{np.median(c.bn_error):.1e} (median), and BN/NLMS = 1/rho. On average over "
                f"the initialisation -- mean rho {mean:.3f}, "
                + ("consistent with" if abs(mean - 1) <= 3 * se else "NOT consistent with")
                + f" E[rho] = 1 (3 standard errors = {3 * se:.3f}); per-filter sd of rho "
                f"{sd:.3f} against {sd_pred:.3f} predicted for isotropic filters. So BatchNorm's "
                "normaliser is NLMS's on average over initialisation"
                + (f" and, here, per filter within 10% (median |ratio - 1| = {dep:.3f})."
                   if dep < 0.1 else
                   f", not per filter: median |ratio - 1| = {dep:.3f}, BN/NLMS median "
                   f"{np.median(c.ratio):.3f}."))
            if name in self.drift and self.steps[name].size > 1:
                q = self.quartiles(name, "ratio")
                w = np.median(self.drift[name]["w_norm"], axis=1)
                start, end = (float(np.median(np.abs(self.drift[name]["ratio"][i] - 1)))
                              for i in (0, -1))
                moves[name] = self.drift_direction(name)
                lines.append(
                    f"{name}: after {int(self.steps[name][-1])} steps at lr {self.params['lr']:g} "
                    f"the BN/NLMS ratio has median {q[-1, 1]:.3f} (quartiles {q[-1, 0]:.3f}-"
                    f"{q[-1, 2]:.3f}); median |ratio - 1| went {start:.3f} -> {end:.3f} from the "
                    f"training run's step 0 (its own minibatch, not the first-step batch above), "
                    f"median ||w|| {w[0]:.3g} -> {w[-1]:.3g}: drift {moves[name]} "
                    "(away: grew by half and past 0.1; closer: shrank by a third).")
        if moves:
            kinds = sorted(set(moves.values()))
            overall = (f"every layer {kinds[0]}" if len(kinds) == 1 else
                       "mixed -- " + ", ".join(f"{n} {m}" for n, m in moves.items()))
            lines.append(f"drift after the first step: {overall}.")
        if self.diverged:
            lines.append("training diverged: the drift record stops at the divergence.")
        return "\n".join(lines) if lines else "no conv layer followed by full BatchNorm"

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        return self.report.summary() + "\n" + self.verdict()

    @classmethod
    def _example(cls) -> FirstStep:
        T, F = 3, 3
        drift = {k: np.linspace(0.9, 1.4, T * F).reshape(T, F) for k in _BN_KEYS}
        return cls(FirstStepReport._example(), {"conv1": np.array([0, 4, 8])}, {"conv1": drift},
                   np.array([2.3, 2.1, 1.9, np.nan]), False,
                   {"lr": 0.1, "probe_lr": 1e-4, "steps": 9, "every": 4, "seed": 0})


def first_step(*, X=None, y=None, lr: float = 0.1, probe_lr: float = 1e-4, steps: int = 100,
               every: int = 10, batch_size: int = 32, n_data: int = 512, widths=(8, 16, 16),
               max_rows: int = 2048, rng=0) -> FirstStep:
    r"""BatchNorm's update against NLMS's: on the first step, then over training (claim 3).

    1. At initialisation, :func:`lmsbn.bridge.compare_first_step` with the small ``probe_lr``
       on one batch: per conv+BN layer and filter, the BatchNorm and NLMS effective steps, their
       ratio, rho, and the errors of both first-order predictions of the output change.
    2. Then ``small_cnn(norm="full")`` trains at ``lr`` with a :class:`lmsbn.bridge.ModeTracker`
       recording the same quantities every ``every`` steps.

    Parameters
    ----------
    X, y : optional
        Images (N, C, H, W) or (N, H, W) and integer labels; default ``n_data`` procedural images.
        The experiment runs in float64 whatever the dtype of ``X`` (see the comment in the code:
        the first-order check is below float32 resolution).
    lr : float, default 0.1
        Training learning rate for the drift.
    probe_lr : float, default 1e-4
        Learning rate of the first-step comparison: small, so the first-order prediction holds.
    steps : int, default 100
        Training steps of the drift run.
    every : int, default 10
        The tracker records every ``every`` steps (step 0 included).
    batch_size : int, default 32
        Also the size of the first-step comparison's batch.
    n_data : int, default 512
    widths : sequence of int, default (8, 16, 16)
    max_rows : int, default 2048
        Regressor rows per layer and record for the tracker's covariance.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    FirstStep

    Notes
    -----
    With :math:`\rho = K w^T C w / (\|w\|^2 \operatorname{tr} C)`, BatchNorm's step
    :math:`\eta\gamma^2/\sigma^2` equals the NLMS step :math:`\eta\gamma^2 K / (\|w\|^2
    \operatorname{tr} C)` divided by :math:`\rho` (see :func:`lmsbn.bridge.rho` and tutorial 07),
    exactly and per filter. Over an isotropic random initialisation :math:`E\rho = 1` and
    :math:`\operatorname{Var}\rho = \frac{2}{K+2}(K \operatorname{tr}C^2/(\operatorname{tr}C)^2 - 1)`
    (:func:`lmsbn.bridge.rho_spread`); so "BatchNorm is NLMS on the first step" holds for the
    normalisers on average over initialisations (BatchNorm's :math:`\sigma^2` against NLMS's
    :math:`\|w\|^2 \operatorname{tr} C / K`), each filter within that spread. Whether training then moves
    rho away from 1 or towards it is measured, per layer (:meth:`FirstStep.drift_direction`).
    rho, its spread and the drift thresholds are lmsbn's own devices for testing the claim
    (the project has only the paper's abstract).
    """
    lr = check_positive(lr, "lr")
    probe_lr = check_positive(probe_lr, "probe_lr")
    steps = check_int(steps, "steps", min_value=1)
    every = check_int(every, "every", min_value=1)
    batch_size = check_int(batch_size, "batch_size", min_value=2)
    n_data = check_int(n_data, "n_data", min_value=2)
    widths = _widths(widths)
    gen = as_generator(rng)
    X, y = _data(X, y, n_data, gen)
    # Always float64: the first-order check compares output changes of relative size ~probe_lr,
    # which float32 round-off (~1e-7 per operation, accumulated) would swamp.
    X = X.astype(np.float64, copy=False)
    init_seed, train_seed, track_seed = _seed(gen), _seed(gen), _seed(gen)
    model = small_cnn(X.shape[1], int(y.max()) + 1, widths, "full", rng=init_seed, dtype=X.dtype)
    report = compare_first_step(model, X[:batch_size], y[:batch_size], probe_lr)
    tracker = ModeTracker(every, max_rows=max_rows, rng=track_seed,
                          layers=[n for n, _ in model.named_layers() if n.startswith("conv")])
    history = train(model, X, y, steps=steps, batch_size=batch_size, lr=lr, callbacks=[tracker],
                    rng=train_seed)
    steps_rec = {n: rec.steps for n, rec in tracker.record.items() if rec.bn}
    drift = {n: {k: rec.bn[k] for k in _BN_KEYS} for n, rec in tracker.record.items() if rec.bn}
    params = {"lr": lr, "probe_lr": probe_lr, "steps": steps, "every": every,
              "batch_size": batch_size, "widths": list(widths), "max_rows": max_rows,
              "n_data": int(X.shape[0]), "seed": rng if isinstance(rng, int) else None}
    return FirstStep(report, steps_rec, drift, history.loss, history.diverged, params)


# lr_sweep is long enough for its own module; it is part of this experiment's API.
from .chai_bound import BoundCheck, bound_check  # noqa: E402
from .chai_isolation import VariantIsolation, variant_isolation  # noqa: E402
from .chai_sweep import LRSweep, lr_sweep  # noqa: E402
