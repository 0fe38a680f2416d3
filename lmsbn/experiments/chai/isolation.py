r"""Do the BatchNorm variants isolate what they are named for? (issue 11, item 2)

Claim (2) of Chai et al. (2020) is tested with two variants (:mod:`lmsbn.nn.batchnorm`):
``amplify`` should raise only the *smallest* eigenvalues of the next layer's input
autocorrelation :math:`R`, ``suppress`` only the *largest*. :func:`variant_isolation` measures
whether they do, before any speed or stability is read off a learning-rate sweep.

For each conv layer whose input comes from a normalisation it compares, at initialisation and
after ``steps`` SGD steps, the spectrum of the layer's input :math:`R = U^\top U / M` (uncentred,
as LMS sees it; :func:`lmsbn.bridge.layer_spectra`) in the ``amplify`` and ``suppress``
networks with the one in the ``center`` network -- centring alone, the variants' common base
(comparing with no normalisation would mix in the post-ReLU mean spike that centring changes).
All three start from the same filters and see the same minibatches.

Targets (lmsbn's own acceptance thresholds, not a paper's): ``amplify`` raises
:math:`\lambda_{min}` at least 2x while :math:`\lambda_{max}` moves at most 10 %; ``suppress``
lowers :math:`\lambda_{max}` at least 2x while :math:`\lambda_{min}` moves at most 10 %.

**Headroom.** A variant rescales channels by at most :math:`\sigma_{ref}/\min_c \sigma_c`
(``amplify``) or :math:`\max_c \sigma_c / \sigma_{ref}` (``suppress``). For the first layer after
a normalisation at initialisation, the ``amplify`` network's :math:`R` is exactly :math:`D R D`
with :math:`D \succeq I` diagonal (ReLU and max-pooling are positively homogeneous per channel),
and Courant-Fischer gives :math:`\lambda_{min}(D R D) \le \|D\|^2 \lambda_{min}(R)`: the squared
ratio is a ceiling on the factor (likewise for ``suppress`` and :math:`\lambda_{max}`). Where
this headroom, measured on the ``center`` network's channels, is below the 2x target, the layer
gives the variant nothing to act on and the result reports the measured factors instead of a
pass or a fail (status ``"no room"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import check_int, check_positive
from lmsbn.bridge import layer_spectra
from lmsbn.io import Result, rng_param
from lmsbn.nn import BatchNorm1d, BatchNorm2d, Conv2d, small_cnn
from lmsbn.train import train
from lmsbn.experiments._inputs import _data, _widths

__all__ = ["VariantIsolation", "variant_isolation"]

VARIANTS = ("center", "amplify", "suppress")
STAGES = ("init", "trained")
RAISE = 2.0  #: the factor by which a variant must move its own end of the spectrum
HOLD = 0.10  #: how far (relative) it may move the other end


@dataclass
class VariantIsolation(Result):
    r"""What ``amplify`` and ``suppress`` do to each normalised conv layer's input spectrum.

    Attributes
    ----------
    layers : tuple of str
        The conv layers whose input comes from a normalisation (e.g. ``conv2, conv3``).
    seeds : ndarray of int (S,)
    lambda_min, lambda_max : ndarray (3, S, 2, L)
        Extreme eigenvalues of each layer's input R, indexed ``[variant, seed, stage, layer]``
        with variants ``center, amplify, suppress`` and stages ``init, trained``; NaN where
        the run diverged.
    spread : ndarray (S, 2, L, 2)
        In the ``center`` network: :math:`\min_c \sigma_c / \sigma_{ref}` and
        :math:`\max_c \sigma_c / \sigma_{ref}` of the normalisation feeding each layer
        (:math:`\sigma_{ref}` the median over its channels).
    params : dict
    """

    layers: tuple
    seeds: np.ndarray
    lambda_min: np.ndarray
    lambda_max: np.ndarray
    spread: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def factors(self) -> dict:
        """``{variant: {"lambda_min": (S, 2, L), "lambda_max": (S, 2, L)}}``, relative to center."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return {v: {"lambda_min": self.lambda_min[k] / self.lambda_min[0],
                        "lambda_max": self.lambda_max[k] / self.lambda_max[0]}
                    for k, v in enumerate(VARIANTS) if k}

    @property
    def headroom(self) -> dict:
        """``{variant: (S, 2, L)}``: the largest factor a one-sided rescale could give (squared)."""
        return {"amplify": self.spread[..., 0] ** -2.0, "suppress": self.spread[..., 1] ** 2.0}

    def status(self, variant: str) -> np.ndarray:
        """(S, 2, L) of ``"pass"``, ``"fail"``, ``"no room"`` (headroom < 2x) or ``"diverged"``."""
        if variant not in ("amplify", "suppress"):
            raise ValueError(f"variant must be 'amplify' or 'suppress', got {variant!r}")
        f = self.factors[variant]
        own, other = ((f["lambda_min"], f["lambda_max"]) if variant == "amplify"
                      else (1.0 / f["lambda_max"], f["lambda_min"]))
        ok = (own >= RAISE) & (np.abs(other - 1.0) <= HOLD)
        out = np.where(ok, "pass", "fail").astype(object)
        out[~ok & (self.headroom[variant] < RAISE)] = "no room"
        out[~np.isfinite(own) | ~np.isfinite(other)] = "diverged"
        return out.astype(str)

    def table(self) -> list[dict]:
        """One row per (seed, stage, layer) with the four factors, headrooms and statuses."""
        f, room = self.factors, self.headroom
        st = {v: self.status(v) for v in ("amplify", "suppress")}
        rows = []
        for idx in np.ndindex(len(self.seeds), len(STAGES), len(self.layers)):
            s, g, j = idx
            rows.append({"seed": int(self.seeds[s]), "stage": STAGES[g], "layer": self.layers[j],
                         **{f"{v}_{e}": float(f[v][e][idx]) for v in f for e in f[v]},
                         **{f"{v}_headroom": float(room[v][idx]) for v in room},
                         **{f"{v}_status": str(st[v][idx]) for v in st}})
        return rows

    def verdict(self) -> str:
        """Counts of passes per variant, and the median factors, computed from the numbers."""
        parts = []
        for v, own, other in (("amplify", "lambda_min", "lambda_max"),
                              ("suppress", "lambda_max", "lambda_min")):
            st = self.status(v)
            n_pass, n = int(np.sum(st == "pass")), st.size
            f = self.factors[v]
            parts.append(
                f"{v}: {n_pass}/{n} layer-stages pass (own end {own} x{np.nanmedian(f[own]):.2f}, "
                f"other end {other} x{np.nanmedian(f[other]):.2f}, medians relative to center; "
                f"{int(np.sum(st == 'no room'))} with headroom < {RAISE:g}x)")
        return ("Isolation (targets: own end moved >= 2x, other end <= 10 %): " + "; ".join(parts)
                + ".")

    def summary(self) -> str:
        """A readable table of the factors, per seed, stage and layer, and the verdict."""
        lines = [f"variant isolation ({self.params.get('data', '?')} data; {self.params.get('steps')}"
                 f" steps at lr {self.params.get('lr')}): eigenvalue factors relative to center",
                 f"{'seed':>4} {'stage':<8}{'layer':<7}{'amp min':>8}{'amp max':>8}{'room':>6}"
                 f"  {'':<9}{'sup max':>8}{'sup min':>8}{'room':>6}"]
        for r in self.table():
            lines.append(f"{r['seed']:>4} {r['stage']:<8}{r['layer']:<7}"
                         f"{r['amplify_lambda_min']:>8.2f}{r['amplify_lambda_max']:>8.2f}"
                         f"{r['amplify_headroom']:>6.1f}  {r['amplify_status']:<9}"
                         f"{r['suppress_lambda_max']:>8.2f}{r['suppress_lambda_min']:>8.2f}"
                         f"{r['suppress_headroom']:>6.1f}  {r['suppress_status']}")
        return "\n".join(lines + [self.verdict()])

    @classmethod
    def _example(cls) -> VariantIsolation:
        lam = np.arange(1.0, 25.0).reshape(3, 2, 2, 2)
        spread = np.full((2, 2, 2, 2), 0.5)
        spread[..., 1] = 2.0
        return cls(("conv2", "conv3"), np.array([0, 1]), lam, lam * 10, spread,
                   {"steps": 50, "lr": 0.03, "data": "shapes", "rng": 0})


def normalised_convs(model) -> dict[str, str]:
    """``{conv_name: bn_name}`` for each conv whose input passed a BatchNorm since the last combiner."""
    out, last_bn = {}, None
    for name, layer in model.named_layers():
        if isinstance(layer, (BatchNorm1d, BatchNorm2d)):
            last_bn = name
        elif isinstance(layer, Conv2d):
            if last_bn is not None:
                out[name] = last_bn
            last_bn = None
    return out


def _measure(model, probe, layers, feeds, max_rows, rng):
    """lambda_min/max of each layer's R, and (min, max) sigma_c / median of its feeding norm."""
    sig = {}

    def hook(name, layer, x, out):
        if name in feeds.values():
            axes = (0,) + tuple(range(2, x.ndim))
            sig[name] = np.sqrt(np.var(x, axis=axes) + layer.eps)

    with model.register_forward_hook(hook):
        spectra = layer_spectra(model, probe, max_rows=max_rows, rng=rng, layers=list(layers))
    lam = np.array([[spectra[n].lambda_min, spectra[n].lambda_max] for n in layers])
    spread = np.array([[sig[feeds[n]].min(), sig[feeds[n]].max()] / np.median(sig[feeds[n]])
                       for n in layers])
    return lam, spread


def _isolation(X, y, n_classes, *, seeds, steps, lr, batch_size, widths, n_probe, max_rows, rng):
    """The measurement behind :func:`variant_isolation` on validated data (shared with lr_sweep)."""
    probe = X[:n_probe]
    layers = feeds = None
    lam = spread = None
    for s, seed in enumerate(seeds):
        for k, norm in enumerate(VARIANTS):
            init_ss, train_ss = np.random.SeedSequence(seed).spawn(2)  # lr_sweep's convention
            model = small_cnn(X.shape[1], n_classes, widths, norm,
                              rng=np.random.default_rng(init_ss), dtype=X.dtype)
            if layers is None:
                feeds = normalised_convs(model)
                layers = tuple(feeds)
                lam = np.full((len(VARIANTS), len(seeds), len(STAGES), len(layers), 2), np.nan)
                spread = np.full((len(seeds), len(STAGES), len(layers), 2), np.nan)
            lam[k, s, 0], sp = _measure(model, probe, layers, feeds, max_rows, rng)
            if norm == "center":
                spread[s, 0] = sp
            h = train(model, X, y, steps=steps, batch_size=batch_size, lr=lr,
                      rng=np.random.default_rng(train_ss))
            if not h.diverged:
                lam[k, s, 1], sp = _measure(model, probe, layers, feeds, max_rows, rng)
                if norm == "center":
                    spread[s, 1] = sp
    return layers, lam, spread


def variant_isolation(*, X=None, y=None, seeds=(0,), steps: int = 50, lr: float = 0.03,
                      batch_size: int = 32, widths=(8, 16, 16), n_train: int = 1000,
                      n_probe: int = 256, max_rows: int = 8192, rng=0) -> VariantIsolation:
    r"""Measure whether ``amplify`` and ``suppress`` move only their own end of the spectrum.

    Parameters
    ----------
    X, y : optional
        Images (N, C, H, W) or (N, H, W) and integer labels, all used for training; default
        ``n_train`` procedural images (:func:`lmsbn.data.shapes`, seed ``rng``).
    seeds : sequence of int, default (0,)
        Initialisation and minibatch seeds, as in :func:`lmsbn.experiments.chai.lr_sweep`.
    steps : int, default 50
        SGD steps between the two measurements.
    lr : float, default 0.03
    batch_size : int, default 32
    widths : sequence of int, default (8, 16, 16)
        ``small_cnn`` conv widths.
    n_train : int, default 1000
        Procedural images when ``X`` is not given.
    n_probe : int, default 256
        Images (the first of X) whose regressors give each R, in training-mode BatchNorm.
    max_rows : int, default 8192
        Regressor rows kept per layer; the same rows for every variant.
    rng : int, default 0
        Seed of the procedural data and of the row subsampling.

    Returns
    -------
    VariantIsolation
        ``factors``, ``status(variant)``, ``summary()``, ``verdict()``.

    Notes
    -----
    Each factor is :math:`\lambda(R_{variant}) / \lambda(R_{center})` for the same layer, seed
    and stage. At initialisation the networks share their filters; after training each has
    followed its own trajectory from the same start through the same minibatches.
    """
    rng = check_int(rng, "rng", min_value=0)
    data = "shapes" if X is None and y is None else "given"
    if X is None and y is None:
        from lmsbn.data import shapes
        X, y = shapes(check_int(n_train, "n_train", min_value=2), rng=rng)
    else:
        X, y = _data(X, y, 0, None)
    seeds = [check_int(s, "seeds entry", min_value=0) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty sequence of distinct ints, got {seeds}")
    params = {"steps": check_int(steps, "steps", min_value=1), "lr": check_positive(lr, "lr"),
              "batch_size": check_int(batch_size, "batch_size", min_value=2),
              "widths": list(_widths(widths)),
              "n_probe": check_int(n_probe, "n_probe", min_value=2),
              "max_rows": check_int(max_rows, "max_rows", min_value=1), "rng": rng_param(rng),
              "n_train": int(X.shape[0]), "data": data}
    layers, lam, spread = _isolation(
        X, y, int(y.max()) + 1, seeds=seeds, steps=params["steps"], lr=params["lr"],
        batch_size=params["batch_size"], widths=tuple(params["widths"]),
        n_probe=params["n_probe"], max_rows=params["max_rows"], rng=rng)
    return VariantIsolation(layers, np.asarray(seeds, dtype=np.int64), lam[..., 0], lam[..., 1],
                            spread, params)
