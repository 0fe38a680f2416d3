"""``lmsbn tour``: the headline experiments, as figures, a self-contained HTML report and numbers.

The tour runs, on the embedded procedural dataset (or on real files with ``--data``):

1. the classical picture: LMS on Haykin's adaptive equalizer, where the eigenvalue spread of the
   input autocorrelation sets the speed of the slowest mode;
2. the same picture inside a CNN: the eigenvalues of each conv layer's input autocorrelation,
   with and without BatchNorm, and the scale test;
3. training with and without BatchNorm at a small and a large learning rate;
4. the learning-rate sweep over the normalisation variants that separate speed from stability,
   with the Gauss-Newton stability bound (and a quick full-batch check of it);
5. BatchNorm against NLMS on the first training step, and the drift after it.

Every sentence of the report that states a result is built from the measured numbers, which are
also written to ``summary.json``.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from lmsbn.train.sweep import ONE_THREAD_ENV

__all__ = ["load_tour_data", "run_tour"]

_DATASETS = ("shapes", "mnist", "fashion_mnist", "cifar10", "npz")


def load_tour_data(name: str = "shapes", path=None, *, n: int = 2000, rng=0):
    """The tour's images: the procedural set, or ``n`` standardised images from real files."""
    from lmsbn import data

    if name not in _DATASETS:
        raise ValueError(f"data must be one of {_DATASETS}, got {name!r}")
    if name == "shapes":
        return data.shapes(n, rng=rng)
    if name == "npz" and path is None:
        raise ValueError("data 'npz' needs a PATH to an images/labels archive")
    loader = {"npz": data.load_npz, "mnist": data.load_mnist,
              "fashion_mnist": data.load_fashion_mnist, "cifar10": data.load_cifar10}[name]
    try:
        return loader(path, subset=n, normalize=True, rng=rng)
    except ValueError as exc:
        if "subset must be" not in str(exc):
            raise
        raise ValueError(f"the tour uses {n} images (600 with --quick, 2000 without), but the "
                         f"'{name}' data holds fewer ({exc})") from None


class _Steps:
    """Progress lines on stderr, e.g. '[2/6] layer spectra (4.1s)'."""

    def __init__(self, total, stream):
        self.total, self.i, self.stream, self.t0 = total, 0, stream, time.perf_counter()

    def __call__(self, what):
        self.i += 1
        print(f"[{self.i}/{self.total}] {what} ({time.perf_counter() - self.t0:.1f}s)",
              file=self.stream, flush=True)


def _save(fig, out: Path, name: str, figures: dict, caption: str, headline: str):
    """Write the figure; keep its report caption and its one-line headline for the terminal.

    ``caption`` is plain text: paragraphs separated by a blank line, and a verdict's findings
    one per line (see :func:`_caption_html`)."""
    import matplotlib.pyplot as plt

    path = out / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    figures[name] = (path, caption, headline)


def _fmt(x, digits=3):
    return "nan" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def _section_equalizer(out, figures, summary, quick, seed):
    import matplotlib.pyplot as plt

    from lmsbn.experiments.chai import equalizer_speed
    from lmsbn.plot import plot_learning_curve

    res = equalizer_speed((2.9, 3.1, 3.3, 3.5), mu=0.075, runs=40 if quick else 150,
                          n=300 if quick else 600, rng=seed)
    mu, runs = res.params["mu"], res.params["runs"]
    fig, ax = plt.subplots(figsize=(8.5, 4), layout="constrained")
    for W, spread in zip(res.W, res.spread):
        plot_learning_curve(res.curves[str(float(W))], ax=ax, label=f"W={W} (spread {spread:.1f})")
    ax.set_title(f"LMS equalizer, mu={mu}, {runs} runs")
    # Eight entries: beside the curves, not over the slow ones.
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    steps = [int(s) for s in res.samples_to_target]
    summary["equalizer"] = {str(float(W)): {"spread": float(sp), "steps_to_0.1": st}
                            for W, sp, st in zip(res.W, res.spread, steps)}
    order = "in the same order" if res.slower_with_spread() else "not strictly in that order"
    caption = ("LMS learning curves of the 11-tap equalizer for channel parameter "
               "W = 2.9 ... 3.5. "
               f"The eigenvalue spread of the input autocorrelation grows "
               f"{', '.join(_fmt(sp) for sp in res.spread)}, and the number of samples "
               f"to reach MSE 0.1 grows {', '.join(map(str, steps))}: {order}. The slowest natural "
               f"mode, (1 - mu lambda_min)^n, sets the pace.")
    headline = (f"eigenvalue spread {res.spread[0]:.1f} -> {res.spread[-1]:.1f}; "
                f"samples to MSE 0.1: {' -> '.join(map(str, steps))}")
    _save(fig, out, "equalizer", figures, caption, headline)


def _section_spectra(out, figures, summary, X, y, quick, seed):
    from lmsbn.experiments.chai import eigen_spectra
    from lmsbn.plot import plot_eigen_spectra

    res = eigen_spectra(X=X, y=y, steps=10 if quick else 60, n_data=min(len(X), 512),
                        n_probe=64 if quick else 256, rng=seed)
    fig = plot_eigen_spectra(res)
    stats = {norm: res.stats(norm, "init") for norm in res.norms}
    ratios = {norm: res.scale_ratios(norm, "init") for norm in res.norms}
    summary["layer_spectra"] = {"init": stats, "scale_ratios": ratios,
                                "scale": res.params["scale"]}
    deep = res.layers[1]
    caption = (f"Eigenvalues of each layer's input autocorrelation R = U^T U / M, with and without "
               f"BatchNorm, at initialisation and after training. At initialisation, in {deep}, "
               f"lambda_max is {_fmt(stats['none'][deep]['lambda_max'])} "
               f"without and {_fmt(stats['full'][deep]['lambda_max'])} with BatchNorm (spread "
               f"{_fmt(stats['none'][deep]['spread'])} vs {_fmt(stats['full'][deep]['spread'])}). "
               f"Multiplying the input by {res.params['scale']:g} multiplies {deep}'s input "
               f"power by {_fmt(ratios['none'][deep])} without BatchNorm and by "
               f"{_fmt(ratios['full'][deep])} with it.")
    headline = (f"{deep} lambda_max at init {_fmt(stats['none'][deep]['lambda_max'])} without vs "
                f"{_fmt(stats['full'][deep]['lambda_max'])} with BatchNorm; input x"
                f"{res.params['scale']:g} scales its power by {_fmt(ratios['none'][deep])} vs "
                f"{_fmt(ratios['full'][deep])}")
    _save(fig, out, "layer_spectra", figures, caption, headline)


def _section_training(out, figures, summary, X, y, quick, seed):
    import matplotlib.pyplot as plt

    from lmsbn.experiments.chai import train_comparison
    from lmsbn.plot import NORM_COLORS, readable_log_axis

    res = train_comparison(X, y, norms=("none", "full"), lrs=(0.02, 1.0),
                           steps=25 if quick else 60, rng=seed)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
    for ax, lr in zip(axes, res.lrs):
        for norm in res.norms:
            k = res.key(norm, lr)
            label = ("BatchNorm" if norm == "full" else "no norm") + (
                f" (diverged at step {res.diverged_at[k]})" if res.diverged[k]
                else f" ({res.eval_accuracy[k]:.0%} held out)")
            ax.plot(res.loss[k], color=NORM_COLORS[norm], label=label)
        ax.set(title=f"lr = {lr:g}", xlabel="SGD step", yscale="log")
        readable_log_axis(ax.yaxis)  # plain 2, 3, 4 rather than 2x10^0 on a narrow range
        ax.legend(fontsize=8)
    axes[0].set_ylabel("minibatch cross-entropy")
    summary["training"] = {
        k: {"diverged": res.diverged[k],
            "diverged_at": res.diverged_at[k] if res.diverged[k] else None,
            "eval_accuracy": None if res.diverged[k] else res.eval_accuracy[k],
            "final_loss": float("inf") if res.diverged[k] else float(res.loss[k][-1])}
        for norm in res.norms for lr in res.lrs for k in [res.key(norm, lr)]}

    fate = res.fate
    caption = (f"small_cnn trained for {res.params['steps']} steps. At lr = 0.02 the plain network "
               f"{fate('none', 0.02)} and the BatchNorm network {fate('full', 0.02)}. At lr = 1.0 "
               f"the plain network {fate('none', 1.0)} and the BatchNorm network "
               f"{fate('full', 1.0)}.")
    headline = (f"lr 0.02: plain {fate('none', 0.02)}, BatchNorm {fate('full', 0.02)}; lr 1.0: "
                f"plain {fate('none', 1.0)}, BatchNorm {fate('full', 1.0)}"
                ).replace(" held-out accuracy", " held out")
    _save(fig, out, "training", figures, caption, headline)


@contextlib.contextmanager
def _one_thread_pool(n_jobs: int):
    """A process pool for the sweep's points whose workers run BLAS on one thread each.

    So ``n_jobs`` workers use ``n_jobs`` cores whatever this process's BLAS does; workers that
    inherited a threaded BLAS would each ask for every core and slow each other down. BLAS
    reads its thread count when it loads, so the workers start fresh (``spawn``) with
    :data:`lmsbn.train.ONE_THREAD_ENV` in their environment; this process's own BLAS, loaded
    long before, is not affected. Serially (``n_jobs == 1``) it yields None: no pool.
    """
    if n_jobs == 1:
        yield None
        return
    saved = {k: os.environ.get(k) for k in ONE_THREAD_ENV}
    os.environ.update(ONE_THREAD_ENV)
    try:  # the workers start during the sweep's submits, inside this block
        with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _section_sweep(out, figures, summary, X, y, quick, seed):
    import matplotlib.pyplot as plt

    from lmsbn.experiments.chai import lr_sweep
    from lmsbn.plot import plot_lr_sweep

    n_jobs = min(os.cpu_count() or 1, 4)
    summary["sweep_workers"] = n_jobs
    with _one_thread_pool(n_jobs) as pool:
        if quick:
            res = lr_sweep(X=X, y=y, quick=True, rng=seed, executor=pool)
        else:  # the variants that separate speed from stability, sized to keep the tour near 1 min
            res = lr_sweep(X=X, y=y, norms=("none", "full", "center", "amplify", "suppress"),
                           lrs=(0.03, 0.3, 1.0, 3.0, 10.0), steps=60, rng=seed, executor=pool)
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plot_lr_sweep(res, ax=ax)
    s = res.separation
    iso = res.isolation
    summary["lr_sweep"] = {"lrs": res.lrs.tolist(), "norms": list(res.norms),
                           "max_stable_lr": s.get("max_stable_lr"), "recovery": s.get("recovery"),
                           "max_learning_lr": s.get("max_learning_lr"),
                           "separating_lrs": s.get("separating_lrs"), "verdict": res.verdict(),
                           "headline": res.headline,
                           "isolation": None if iso is None else {"rows": iso.table(),
                                                                  "verdict": iso.verdict()}}
    caption = (f"Learning-rate sweep over the normalisation variants (final loss; X marks a "
               f"diverged run): small_cnn of widths {tuple(res.params['widths'])}, "
               f"{res.params['steps']} steps, {res.params['n_train']} training images; a smaller "
               f"network and budget than the training section's, so their divergence points need "
               f"not agree.\n\n" + res.verdict()
               + ("" if iso is None else "\n\n" + iso.verdict()))
    headline = res.headline
    # The bound in the units of lr, tested where it is exact in spirit: full-batch descent.
    from lmsbn.experiments.chai import bound_check

    bc = bound_check(datasets={"tour": (X, y)}, seeds=(seed,), quick=True)
    factors = {n: float(bc.onset_factor[0, j, 0]) for j, n in enumerate(bc.norms)}
    summary["bound_check"] = {"lr_max": dict(zip(bc.norms, map(float, bc.lr_max[0, :, 0]))),
                              "onset_factor": factors, "verdicts": bc.case_verdicts(),
                              "verdict": bc.verdict()}
    caption += ("\n\nSolid ticks: the Gauss-Newton bound 2/lambda_max(G) in units of lr; dotted: "
                "the unit-gain LMS picture 2/lambda_max(R). Quick full-batch bound check on "
                f"{bc.params['n']} images.\n\n" + bc.verdict())
    headline += ("; full-batch onset / Gauss-Newton bound: "
                 + ", ".join(f"{n} {_fmt(f)}" for n, f in factors.items()))
    _save(fig, out, "lr_sweep", figures, caption, headline)


def _section_first_step(out, figures, summary, X, y, quick, seed):
    import matplotlib.pyplot as plt

    from lmsbn.experiments.chai import first_step
    from lmsbn.plot import plot_bn_nlms_drift, plot_first_step

    res = first_step(X=X, y=y, steps=20 if quick else 100, n_data=min(len(X), 512), rng=seed)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    plot_first_step(res.report, ax=axes[0])
    plot_bn_nlms_drift(res, ax=axes[1])
    summary["first_step"] = {
        name: {"median_rho": float(np.median(c.rho)), "median_ratio": float(np.median(c.ratio)),
               "median_bn_error": float(np.median(c.bn_error)),
               "median_nlms_error": float(np.median(c.nlms_error))}
        for name, c in res.report.layers.items()}
    summary["first_step"]["verdict"] = res.verdict()
    caption = ("BatchNorm against NLMS. Left: on the first step, per filter, the ratio of "
               "BatchNorm's effective step lr gamma^2 / sigma^2 to the NLMS step, and rho = "
               "K w^T C w / (||w||^2 tr C). Right: how that ratio moves during training.\n\n"
               + res.verdict())
    first = summary["first_step"]
    headline = ("first-step BatchNorm/NLMS step ratio (median): "
                + ", ".join(f"{n} {first[n]['median_ratio']:.2f}" for n in res.report.layers)
                + "; BatchNorm's own first-order error, median per layer: at most "
                + f"{max(first[n]['median_bn_error'] for n in res.report.layers):.0e}; "
                + "mean rho " + ", ".join(f"{n} {np.mean(c.rho):.2f}"
                                          for n, c in res.report.layers.items())
                + " (1 on average over initialisations); "
                + res.verdict().splitlines()[-1].rstrip("."))
    _save(fig, out, "bn_vs_nlms", figures, caption, headline)


def _strict_json(obj):
    """``obj`` with every non-finite float (a diverged run's inf loss, an infinite spread) as
    None, so that summary.json is standard JSON (``null``) that every parser reads."""
    if isinstance(obj, dict):
        return {k: _strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict_json(v) for v in obj]
    if isinstance(obj, (float, np.floating)) and not np.isfinite(obj):
        return None
    return obj


def _caption_html(caption: str) -> str:
    """A caption as HTML: each blank-line-separated paragraph a ``<p>``, except that the lines
    of a paragraph of several (a verdict: one finding, layer or case per line) become a list."""
    blocks = []
    for para in caption.split("\n\n"):
        lines = [html.escape(line) for line in para.split("\n") if line.strip()]
        if len(lines) == 1:
            blocks.append(f"<p>{lines[0]}</p>")
        elif lines:
            blocks.append("<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>")
    return "".join(blocks)


def _write_html(out: Path, figures: dict, summary: dict, header: str) -> Path:
    parts = [f"<h1>lmsbn tour</h1><p>{html.escape(header)}</p>"]
    for name, (path, caption, headline) in figures.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        # The terminal's one line first, for a reader skimming the page; then the figure and
        # the full caption with its verdicts.
        parts.append(f"<section><h2>{html.escape(name.replace('_', ' '))}</h2>"
                     f"<p class='headline'>{html.escape(headline)}</p>"
                     f"<img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
                     f"{_caption_html(caption)}</section>")
    # The same strict JSON as summary.json (null, not Infinity/NaN, for a diverged run), folded:
    # it is for checking a number, not for reading.
    numbers = json.dumps(_strict_json(summary), indent=1, default=str, allow_nan=False)
    parts.append("<details><summary>Numbers (as in summary.json)</summary><pre>"
                 + html.escape(numbers) + "</pre></details>")
    # Figures are saved at most ~1100 px wide (10 in at 110 dpi): the page is wide enough to
    # show them unscaled, so their text stays readable; the text itself keeps a 60em measure.
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>lmsbn tour</title><style>"
            "body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;"
            "line-height:1.4}p,ul{max-width:60em}li{margin:.3em 0}img{max-width:100%;height:auto}"
            ".headline{font-weight:bold}summary{cursor:pointer;font-size:1.2em;margin:1em 0}"
            "pre{font-size:.8em;background:#f4f4f4;padding:1em;overflow:auto}"
            "</style></head><body>" + "\n".join(parts) + "</body></html>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def run_tour(out_dir="lmsbn-tour", *, quick: bool = False, seed: int = 0, data: str = "shapes",
             data_path=None, stream=None, progress=None) -> dict:
    """Run the tour; write ``figures *.png``, ``report.html`` and ``summary.json`` to ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path, default "lmsbn-tour"
    quick : bool
        Smaller runs (a smoke test of the whole pipeline).
    seed : int
    data : {"shapes", "mnist", "fashion_mnist", "cifar10", "npz"}
    data_path : str or Path, optional
        Where the real files are (default: the cache directory of :mod:`lmsbn.data`).
    stream, progress : file-like, optional
        Where the summary and the progress lines go (default: stdout and stderr).

    Returns
    -------
    dict
        The summary that was written to ``summary.json``.
    """
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo"):
        matplotlib.use("Agg")  # the tour only writes files; never open a window
    from lmsbn._checks import check_int

    seed = check_int(seed, "seed", min_value=0)
    stream = sys.stdout if stream is None else stream      # looked up now, so redirection works
    progress = sys.stderr if progress is None else progress
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir must be a folder, got the file {str(out)!r}")
    t0 = time.perf_counter()
    step = _Steps(6, progress)
    # Data first: a bad --data never leaves an empty report folder behind.
    X, y = load_tour_data(data, data_path, n=600 if quick else 2000, rng=seed)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"data": data, "n_images": int(len(X)), "image_shape": list(X.shape[1:]),
               "seed": seed, "quick": quick}
    figures: dict = {}
    step("classical LMS: the adaptive equalizer")
    _section_equalizer(out, figures, summary, quick, seed)
    step("eigenvalues of each layer's input autocorrelation")
    _section_spectra(out, figures, summary, X, y, quick, seed)
    step("training with and without BatchNorm")
    _section_training(out, figures, summary, X, y, quick, seed)
    step("learning-rate sweep over the normalisation variants")
    _section_sweep(out, figures, summary, X, y, quick, seed)
    step("BatchNorm versus NLMS on the first step and after")
    _section_first_step(out, figures, summary, X, y, quick, seed)
    step("writing the report")
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # ru_maxrss is in KiB on Linux but in bytes on macOS (getrusage(2) of each system).
        summary["peak_memory_mib"] = round(peak / 1024 ** (2 if sys.platform == "darwin" else 1), 1)
    except ImportError:  # not on Windows
        pass
    (out / "summary.json").write_text(
        json.dumps(_strict_json(summary), indent=2, default=str, allow_nan=False), encoding="utf-8")
    header = (f"{len(X)} images of shape {tuple(X.shape[1:])} from '{data}', seed {seed}, "
              f"{'quick' if quick else 'full'} run, {summary['seconds']} s.")
    report = _write_html(out, figures, summary, header)
    print(f"lmsbn tour: {header}", file=stream)
    for name, (_, _, headline) in figures.items():
        print(f"- {name}: {headline}", file=stream)
    print(f"report: {report.resolve()}", file=stream)
    return summary
