r"""Claim (1) of Chai et al.: a conv layer's update has natural modes set by the eigenvalues of its
input autocorrelation R, and BatchNorm controls them through R's channel structure.

:func:`eigen_spectra` measures each conv layer's spectrum at initialisation and after training,
with and without BatchNorm, including the scale test (inputs x10: without BN the deeper layers'
eigenvalues grow x100, with BN they do not).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_generator, check_choice, check_int, check_positive
from lmsbn.bridge import COMBINERS, capture_regressors, layer_weights
from lmsbn.experiments._inputs import STAGES, _data, _norms, _seed, _widths
from lmsbn.io import Result
from lmsbn.nn import Conv2d, small_cnn
from lmsbn.spectral import Spectrum, channel_blocks
from lmsbn.train import train

__all__ = ["EigenSpectra", "eigen_spectra"]


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

