r"""Bjorck et al. (2018), the three network experiments: the same learning rate, activation growth
with depth after one large step, and per-layer gradient statistics.

All run on the library's own layers, on a deep plain CNN (:func:`deep_plain_cnn`) with and without
BatchNorm. Every experiment design, measure and threshold here is lmsbn's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_int, check_positive
from lmsbn.experiments._inputs import _data
from lmsbn.io import Result, rng_param
from lmsbn.nn import BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, ReLU, Sequential
from lmsbn.nn import functional as F

__all__ = [
    "ActivationGrowth", "GradientStatistics", "SameLRComparison", "activation_growth",
    "deep_plain_cnn", "gradient_statistics", "same_lr_comparison",
]


# ---------------------------------------------------------------------------------------- helpers
def _args(rng, X=None, **kwargs) -> dict:
    """An experiment's arguments as its result stores them in ``params`` (JSON-able)."""
    return {**kwargs, "data": "procedural" if X is None else "given", "rng": rng_param(rng)}


def deep_plain_cnn(depth: int = 12, width: int = 8, *, in_channels: int = 3, num_classes: int = 10,
                   norm: bool = False, rng=None) -> Sequential:
    """``depth`` blocks of conv3x3(pad 1) -> [BatchNorm2d] -> ReLU, then GAP + linear.

    Every block is ``width`` channels wide and there is no pooling, so every block sees the same
    spatial size and depth is the only variable.
    Layers are named ``conv1, [bn1,] relu1, ..., gap1, fc1``; the same ``rng`` gives the same conv
    weights with and without BatchNorm (the conv bias is dropped when BatchNorm follows).
    """
    depth = check_int(depth, "depth", min_value=1)
    width = check_int(width, "width", min_value=1)
    rng = as_generator(rng)
    layers, c = [], check_int(in_channels, "in_channels", min_value=1)
    for _ in range(depth):
        layers.append(Conv2d(c, width, 3, padding=1, bias=not norm, rng=rng))
        if norm:
            layers.append(BatchNorm2d(width))
        layers.append(ReLU())
        c = width
    layers += [GlobalAvgPool2d(), Linear(width, check_int(num_classes, "num_classes", min_value=1),
                                         rng=rng)]
    return Sequential(*layers)


# ---------------------------------------------------------------------- 1. same learning rate
@dataclass
class SameLRComparison(Result):
    """Loss curves of BN and no-BN nets at a small and a large learning rate.

    ``loss`` has shape (4, steps) in the row order of ``labels`` (NaN after a divergence): BN and
    no BN at ``lrs[0]``, then BN and no BN at ``lrs[2]``. ``params`` holds the arguments of
    :func:`same_lr_comparison`.
    """

    labels: np.ndarray
    lrs: np.ndarray
    loss: np.ndarray
    diverged: np.ndarray
    final_loss: np.ndarray
    params: dict = field(default_factory=dict)

    #: "Train alike": final losses within this fraction of the larger one (lmsbn's threshold).
    ALIKE = 0.25

    def verdict(self) -> str:
        """The claim judged from the stored final losses (the rule: :func:`same_lr_comparison`)."""
        if len(self.final_loss) != 4:
            return "the verdict needs the four runs of same_lr_comparison (BN/no BN x two lrs)"
        final, div = self.final_loss, self.diverged
        alike = bool(np.all(np.isfinite(final[:2])) and
                     abs(final[0] - final[1]) < self.ALIKE * max(final[0], final[1]))
        larger = bool(np.isfinite(final[2]) and final[2] < final[0] and
                      (div[3] or final[3] > final[2]))
        return (f"at lr={self.lrs[0]:g} BN and no-BN {'train alike' if alike else 'differ'} "
                f"(final loss {final[0]:.3f} vs {final[1]:.3f}); at lr={self.lrs[2]:g} BN "
                + ("reaches a lower loss than at the small rate" if final[2] < final[0]
                   else "does not improve")
                + f" ({final[2]:.3f}) while no-BN "
                + ("diverged" if div[3] else f"ends at {final[3]:.3f}")
                + (" -> BatchNorm's benefit is the larger learning rate." if alike and larger
                   else " -> the claim is NOT supported by this run."))

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        rows = [f"  {lab:<18s} lr={lr:<8g} final loss "
                + ("diverged" if d else f"{fl:.4f}")
                for lab, lr, d, fl in zip(self.labels, self.lrs, self.diverged, self.final_loss)]
        return "\n".join(["Same-learning-rate comparison (Bjorck et al. 2018)", *rows,
                          self.verdict()])

    @classmethod
    def _example(cls) -> SameLRComparison:
        loss = np.array([[2.3, 1.5, 1.2], [2.3, 1.6, 1.25], [2.3, 1.0, 0.8], [2.3, 1e4, np.nan]])
        return cls(np.array(["BN", "no BN", "BN", "no BN"]), np.array([0.02, 0.02, 0.5, 0.5]),
                   loss, np.array([False, False, False, True]), np.array([1.2, 1.25, 0.8, np.inf]),
                   _args(0, small_lr=0.02, large_lr=0.5, steps=3))


def same_lr_comparison(X=None, y=None, *, small_lr: float = 0.02, large_lr: float = 0.5,
                       steps: int = 150, batch_size: int = 32, widths=(8, 16), n: int = 512,
                       size: int = 16, window: int = 20, rng=0) -> SameLRComparison:
    r"""Train ``small_cnn`` without and with BatchNorm at ``small_lr``, then both at ``large_lr``.

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W), optional
        Images; default ``n`` images of the procedural dataset (:func:`lmsbn.data.shapes`).
    y : ndarray of int, shape (N,), optional
    small_lr, large_lr : float
        The shared small learning rate, and a large one at which the plain net is expected to fail.
    steps, batch_size : int
    widths : sequence of int
        Conv widths of :func:`lmsbn.nn.small_cnn`.
    n, size : int
        Number and size of the procedural images (when ``X`` is not given).
    window : int
        The final loss is the mean of the last ``window`` minibatch losses.
    rng : None, int or Generator
        One seed for data, the shared initial weights and the minibatch order.

    Returns
    -------
    SameLRComparison

    Notes
    -----
    The verdict is read off the numbers: the two nets "train alike" at ``small_lr`` when their
    final losses differ by less than 25 %; BatchNorm "allows the larger rate" when at ``large_lr``
    the plain net diverged or ended with a higher loss than BN, while BN's loss at ``large_lr`` is
    below its own loss at ``small_lr``.
    """
    from lmsbn.nn import small_cnn
    from lmsbn.train import train

    small_lr = check_positive(small_lr, "small_lr")
    large_lr = check_positive(large_lr, "large_lr")
    steps = check_int(steps, "steps", min_value=1)
    window = min(check_int(window, "window", min_value=1), steps)
    args = _args(rng, X, small_lr=small_lr, large_lr=large_lr, steps=steps, batch_size=batch_size,
                 widths=[int(w) for w in widths], n=n, size=size, window=window)
    rng = as_generator(rng)
    X, y = _data(X, y, n, rng, size=size)
    seed_w, seed_t = (int(s) for s in rng.integers(0, 2**31, size=2))
    classes = int(y.max()) + 1
    labels, lrs = [], []
    loss = np.full((4, steps), np.nan)
    diverged, final = np.zeros(4, bool), np.full(4, np.inf)
    for i, (norm, lr) in enumerate([("full", small_lr), ("none", small_lr),
                                    ("full", large_lr), ("none", large_lr)]):
        model = small_cnn(X.shape[1], classes, widths, norm, rng=seed_w)
        hist = train(model, X, y, steps=steps, batch_size=batch_size, lr=lr, rng=seed_t)
        loss[i, :hist.steps_taken] = hist.loss
        diverged[i] = hist.diverged
        if not hist.diverged:
            final[i] = float(np.mean(hist.loss[-window:]))
        labels.append("BN" if norm == "full" else "no BN")
        lrs.append(lr)
    return SameLRComparison(np.array(labels), np.array(lrs), loss, diverged, final, args)


# ---------------------------------------------------------------------- 2. activation growth
@dataclass
class ActivationGrowth(Result):
    """Per-layer channel means and variances after a fraction alpha of one large SGD step.

    ``means[k, a, l, c]`` and ``variances[k, a, l, c]``: net ``k`` (0 = no BN, 1 = BN), fraction
    ``fractions[a]``, block ``l`` (output of its ReLU), channel ``c``.
    """

    fractions: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    lr: float = 0.0
    params: dict = field(default_factory=dict)

    @classmethod
    def _example(cls) -> ActivationGrowth:
        fr = np.array([0.0, 1.0])
        means = np.arange(2 * 2 * 3 * 2, dtype=float).reshape(2, 2, 3, 2) / 10
        variances = 1.0 + means
        variances[0, 1, 2] = [np.inf, 1e30]    # an exploding deep layer
        return cls(fr, means, variances, 10.0, _args(0, depth=3, width=2, lr=10.0, n=4, size=8))

    def relative_variance(self) -> np.ndarray:
        """Mean channel variance of each block relative to its value at alpha = 0, shape (2, A, L).

        Assumes ``fractions[0] == 0`` (the default); otherwise it is relative to the first fraction.
        """
        v = self.variances.mean(axis=3)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return v / v[:, :1, :]

    def growth_ratio(self) -> np.ndarray:
        """Relative variance change of the last block over that of the first, shape (2, A).

        Much larger than 1: the step's effect compounds with depth (exponential growth).
        """
        r = self.relative_variance()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return r[:, :, -1] / r[:, :, 0]

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        r = self.growth_ratio()
        return ("Activation growth (Bjorck et al. 2018): relative variance change, last block over "
                f"first, after the full step (lr={self.lr:g}): "
                f"no BN {r[0, -1]:.3g}, BN {r[1, -1]:.3g}")


def activation_growth(*, depth: int = 12, width: int = 8, fractions=None, lr: float = 10.0,
                      n: int = 32, size: int = 16, X=None, y=None, rng=0) -> ActivationGrowth:
    r"""Apply :math:`\theta_0 - \alpha\,\eta\,\nabla L(\theta_0)` and record activation statistics.

    Parameters
    ----------
    depth, width : int
        The deep plain CNN (:func:`deep_plain_cnn`), built twice from one seed: without and with
        BatchNorm.
    fractions : array_like, shape (A,), optional
        The fractions :math:`\alpha \in [0, 1]` of the step applied. Default (None): the 11
        values 0, 0.1, ..., 1 (``np.linspace(0, 1, 11)``).
    lr : float
        The large learning rate :math:`\eta` of the single step.
    n, size : int
        Batch of ``n`` procedural images of ``size`` x ``size`` (when ``X`` is not given).
    X, y : ndarray, optional
        Images (N, C, H, W) and integer labels (N,) to use instead of the procedural data.
    rng : None, int or Generator

    Returns
    -------
    ActivationGrowth

    Notes
    -----
    The gradient is that of the mean cross-entropy on the batch, taken once at
    :math:`\theta_0`; the statistics are then measured on the same batch in training mode (BN uses
    the batch statistics, as during training). The paper's abstract states that without BN large
    gradient updates make activations grow uncontrollably with depth, while BN keeps correcting
    them to zero mean and unit variance; this experiment (the fraction :math:`\alpha`, the
    per-layer channel statistics) is lmsbn's own design for testing that statement.

    The direction of the change depends on the step and the seed: at a moderate rate the plain
    net's deep activations can instead *shrink* exponentially with depth -- the compounding is the
    same, only downward. Read the per-layer curves, not one number: tutorial 08 prints them, and
    ``tests/test_bjorck.py`` checks both directions at fixed seeds.
    """
    if fractions is None:
        fractions = np.linspace(0, 1, 11)
    fractions = as_float_array(fractions, "fractions", ndim=1)
    lr = check_positive(lr, "lr")
    args = _args(rng, X, depth=depth, width=width, lr=lr, n=n, size=size)
    rng = as_generator(rng)
    X, y = _data(X, y, n, rng, size=size)
    seed = int(rng.integers(0, 2**31))
    A = fractions.size
    means = np.zeros((2, A, depth, width))
    variances = np.zeros_like(means)
    captured = []  # the ReLU outputs of the forward pass in progress, one per block

    def hook(name, layer, inp, out):
        if name.startswith("relu"):
            captured.append(out)

    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for k, norm in enumerate((False, True)):
            model = deep_plain_cnn(depth, width, in_channels=X.shape[1],
                                   num_classes=int(y.max()) + 1, norm=norm, rng=seed)
            params = list(model.named_parameters())
            _, dout = F.softmax_cross_entropy(model.forward(X), y)
            model.backward(dout)
            theta0 = [p.copy() for _, p, _ in params]
            grads = [g.copy() for _, _, g in params]
            handle = model.register_forward_hook(hook)
            for a, alpha in enumerate(fractions):
                for (_, p, _), p0, g in zip(params, theta0, grads):
                    p[...] = p0 - alpha * lr * g
                captured.clear()
                model.forward(X)
                for block, act in enumerate(captured):
                    means[k, a, block] = act.mean(axis=(0, 2, 3))
                    variances[k, a, block] = act.var(axis=(0, 2, 3))
            handle.remove()
    return ActivationGrowth(fractions, means, variances, lr, args)


# ---------------------------------------------------------------------- 3. gradient statistics
@dataclass
class GradientStatistics(Result):
    r"""Per-layer statistics of conv-weight gradients of a net without (row 0) and with BN (row 1).

    Attributes
    ----------
    edges : ndarray, shape (2, L, bins + 1)
        Histogram bin edges of the batch gradient entries of each conv layer, in units of that
        layer's gradient standard deviation (so heavy tails are comparable across layers).
    counts : ndarray, shape (2, L, bins)
    kurtosis : ndarray, shape (2, L)
        Excess kurtosis of the batch-gradient entries (0 for a Gaussian). Here and below NaN
        marks a layer whose gradient vanished or overflowed (possible after a large ``lr``).
    agreement : ndarray, shape (2, L)
        Mean over the layer's weights of :math:`|\sum_n g_n| / \sum_n |g_n|` (1: every example
        pushes the weight the same way -- the gradient does not depend on the input).
    top_channel_share : ndarray, shape (2, L)
        Share of the layer's squared gradient norm carried by its largest output channel.
    lr : float
        Size of the SGD step taken before measuring (0: at initialisation).
    """

    edges: np.ndarray
    counts: np.ndarray
    kurtosis: np.ndarray
    agreement: np.ndarray
    top_channel_share: np.ndarray
    lr: float = 0.0
    params: dict = field(default_factory=dict)

    @classmethod
    def _example(cls) -> GradientStatistics:
        edges = np.broadcast_to(np.linspace(-8, 8, 4), (2, 2, 4)).copy()
        counts = np.array([[[1.0, 5, 1], [0, 7, 0]], [[2, 3, 2], [1, 5, 1]]])
        kurt = np.array([[3.5, np.nan], [0.1, -0.2]])
        return cls(edges, counts, kurt, np.array([[0.9, 0.8], [0.2, 0.3]]),
                   np.array([[0.6, 0.7], [0.3, 0.3]]), 0.0,
                   _args(0, depth=2, width=2, n=4, size=8, bins=3, lr=0.0))

    def summary(self) -> str:
        """A readable text report of the result, with its numbers."""
        when = "at initialisation" if self.lr == 0 else f"after one SGD step of lr {self.lr:g}"
        lines = [f"Gradient statistics (Bjorck et al. 2018), {when}: kurtosis and sign agreement "
                 "per layer"]
        for k, lab in enumerate(("no BN", "BN")):
            lines.append(f"  {lab}: kurtosis {np.round(self.kurtosis[k], 2).tolist()}")
            lines.append(f"  {lab}: agreement {np.round(self.agreement[k], 3).tolist()}")
        return "\n".join(lines)


def _per_example_grads(model, X, y):
    """Rows: example n's contribution to the batch gradient of each conv weight, (N, P_l) per layer.

    One forward pass, then N backward passes, each with the loss gradient of example n only
    (the other rows of ``dlogits`` zeroed). With BatchNorm this is example n's term of the batch
    gradient *through* the batch statistics; without BN it is the usual per-example gradient / N.
    Their sum over n is exactly the batch gradient.
    """
    _, dout = F.softmax_cross_entropy(model.forward(X), y)
    convs = [(name, layer) for name, layer in model.named_layers() if name.startswith("conv")]
    out = [np.zeros((X.shape[0], layer.params["weight"].size)) for _, layer in convs]
    for i in range(X.shape[0]):
        masked = np.zeros_like(dout)
        masked[i] = dout[i]
        model.backward(masked)
        for rows, (_, layer) in zip(out, convs):
            rows[i] = layer.grads["weight"].ravel()
    return out, [layer.params["weight"].shape for _, layer in convs]


def gradient_statistics(*, depth: int = 8, width: int = 8, n: int = 32, size: int = 8,
                        bins: int = 41, lr: float = 0.0, X=None, y=None,
                        rng=0) -> GradientStatistics:
    """Per-layer gradient histograms, kurtosis and sign agreement, without/with BN.

    Parameters
    ----------
    depth, width : int
        The deep plain CNN (:func:`deep_plain_cnn`), same seed for both nets.
    n, size : int
        Batch size and image size of the procedural data (when ``X`` is not given).
    bins : int
        Histogram bins over +-8 standard deviations (entries beyond fall in the end bins).
    lr : float
        Take one full-batch SGD step of this size first (the step of :func:`activation_growth`,
        applied whole); 0 measures at initialisation.
    X, y : ndarray, optional
        Images (N, C, H, W) and integer labels (N,) to use instead of the procedural data.
    rng : None, int or Generator

    Returns
    -------
    GradientStatistics

    Notes
    -----
    Cost: one forward and ``n`` backward passes per net (see ``_per_example_grads``), cheap at the
    default sizes. The paper's abstract states that without BN the gradients of deep nets are
    heavy-tailed and input-independent; kurtosis, agreement and channel share are lmsbn's measures
    of those words. Heavy tails show at initialisation; input independence (agreement near 1)
    needs depth and a large step that makes the plain net's activations explode
    (:func:`activation_growth`), and how far each moves depends on the seed. Tutorial 08 prints
    the statistics; ``tests/test_bjorck.py`` checks both effects at fixed seeds.
    """
    bins = check_int(bins, "bins", min_value=2)
    lr = check_positive(lr, "lr", allow_zero=True)
    args = _args(rng, X, depth=depth, width=width, n=n, size=size, bins=bins, lr=lr)
    rng = as_generator(rng)
    X, y = _data(X, y, n, rng, size=size)
    seed = int(rng.integers(0, 2**31))
    edges = np.zeros((2, depth, bins + 1))
    counts = np.zeros((2, depth, bins))
    kurt, agree, share = (np.zeros((2, depth)) for _ in range(3))
    unit_edges = np.linspace(-8, 8, bins + 1)
    for k, norm in enumerate((False, True)):
        model = deep_plain_cnn(depth, width, in_channels=X.shape[1], num_classes=int(y.max()) + 1,
                               norm=norm, rng=seed)
        if lr > 0:
            _, dout = F.softmax_cross_entropy(model.forward(X), y)
            model.backward(dout)
            for _, p, g in model.named_parameters():
                p -= lr * g
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            rows, shapes_ = _per_example_grads(model, X, y)
        for layer, (g_n, shape) in enumerate(zip(rows, shapes_)):
            g = g_n.sum(axis=0)
            edges[k, layer] = unit_edges
            denom = np.abs(g_n).sum(axis=0)
            ok = denom > 0
            if not np.all(np.isfinite(g)) or not ok.any() or g.std() == 0:
                # a layer killed by the step (dead ReLUs or overflow): nothing to measure
                kurt[k, layer] = agree[k, layer] = share[k, layer] = np.nan
                continue
            z = (g - g.mean()) / g.std()
            kurt[k, layer] = float(np.mean(z ** 4) - 3.0)
            counts[k, layer] = np.histogram(np.clip(z, -8, 8), bins=unit_edges)[0]
            agree[k, layer] = float(np.mean(np.abs(g[ok]) / denom[ok]))
            per_channel = (g.reshape(shape[0], -1) ** 2).sum(axis=1)
            share[k, layer] = float(per_channel.max() / per_channel.sum())
    return GradientStatistics(edges, counts, kurt, agree, share, float(lr), args)
