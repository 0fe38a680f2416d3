"""``lmsbn tour``: the main job writes its figures, report and numbers, and the CLI wires it."""

import json
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from figcheck import cut_off

import lmsbn.tour
from lmsbn.cli import main
from lmsbn.tour import load_tour_data

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist5k.npz"


@pytest.mark.slow
def test_quick_tour_writes_report_figures_and_numbers(tmp_path, capsys, monkeypatch):
    # Every figure, as saved, has nothing cut off (a title or legend past the edge).
    cut, save = {}, lmsbn.tour._save

    def checked_save(fig, out, name, *rest):
        save(fig, out, name, *rest)
        cut[name] = cut_off(fig)

    monkeypatch.setattr(lmsbn.tour, "_save", checked_save)
    assert main(["tour", "--quick", "--out", str(tmp_path), "--seed", "1"]) == 0
    assert cut == {name: [] for name in cut} and len(cut) == 5
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    for name in ("equalizer", "layer_spectra", "training", "lr_sweep", "bn_vs_nlms"):
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG", name
        assert f"- {name}:" in out
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5      # self-contained: figures inlined
    # The report's sentences carry the measured numbers, e.g. the equalizer's spreads.
    spreads = [v["spread"] for v in summary["equalizer"].values()]
    assert spreads == sorted(spreads) and f"{spreads[0]:.3g}" in html
    assert summary["seed"] == 1 and summary["data"] == "shapes"
    assert set(summary["training"]) == {"none@0.02", "full@0.02", "none@1.0", "full@1.0"}
    assert "verdict" in summary["lr_sweep"] and "verdict" in summary["first_step"]
    assert set(summary["bound_check"]["onset_factor"]) == {"none", "full"}
    assert "onset / Gauss-Newton bound" in out
    assert str((tmp_path / "report.html").resolve()) in out
    # The numbers block prints what summary.json holds (null, never Infinity or NaN).
    numbers = html.split("<pre>")[1].split("</pre>")[0]
    assert json.loads(unescape(numbers)) == summary


def test_tour_rejects_unknown_data(capsys):
    assert main(["tour", "--data", "imagenet"]) == 2
    assert "data must be one of" in capsys.readouterr().err


@pytest.mark.parametrize("content, what", [
    (b"images,labels\n0,1\n", "a text file starting with 'images,labels'"),
    (b"\x80\x04K\x01.", "a Python pickle"),
    (b"", "an empty file"),
])
def test_tour_names_a_file_that_is_no_npz_archive_and_never_suggests_unpickling(
        tmp_path, capsys, content, what):
    path = tmp_path / "data.npz"
    path.write_bytes(content)
    assert main(["tour", "--data", "npz", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path} is {what}, not an .npz archive" in err
    assert "allow_pickle" not in err


def test_tour_data_from_an_npz_archive(tmp_path):
    # The same path as the MNIST test below, on a small archive CI always has.
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tiny.npz", images=rng.integers(0, 256, (30, 6, 6), dtype=np.uint8),
             labels=rng.integers(0, 10, 30))
    X, y = load_tour_data("npz", tmp_path / "tiny.npz", n=20, rng=0)
    assert X.shape == (20, 1, 6, 6) and y.dtype == np.int64
    assert abs(X.mean()) < 1e-12 and abs(X.std() - 1) < 1e-12    # normalize=True


@pytest.mark.skipif(not MNIST.exists(), reason="../shared/data/mnist5k.npz is not present")
def test_tour_data_from_real_files():
    X, y = load_tour_data("npz", MNIST, n=100, rng=0)
    assert X.shape == (100, 1, 28, 28) and y.dtype == np.int64
    # normalize=True: zero mean and unit variance over the returned set (one channel).
    assert abs(X.mean()) < 1e-12 and abs(X.std() - 1) < 1e-12


def test_tour_data_errors_leave_no_folder_and_the_summary_is_strict_json(tmp_path, capsys):
    # A bad --data is reported before the report folder is created.
    out = tmp_path / "report"
    assert main(["tour", "--data", "npz", str(tmp_path / "missing.npz"), "--out", str(out)]) == 2
    assert not out.exists() and "missing.npz" in capsys.readouterr().err
    # Non-finite numbers (a diverged run's loss) become null, so any JSON parser reads the file.
    from lmsbn.tour import _strict_json

    text = json.dumps(_strict_json({"a": [1.0, float("inf")], "b": {"c": np.float64("nan")}}),
                      allow_nan=False)
    assert json.loads(text) == {"a": [1.0, None], "b": {"c": None}}


def test_the_tours_sweep_pool_runs_workers_on_one_blas_thread_and_restores_the_environment(
        monkeypatch):
    import functools
    import os

    from lmsbn.tour import _one_thread_pool
    from lmsbn.train import ONE_THREAD_ENV

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "7")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with _one_thread_pool(2) as pool:
        seen = [pool.submit(functools.partial(os.getenv, k)).result() for k in ONE_THREAD_ENV]
    assert seen == ["1"] * len(ONE_THREAD_ENV)          # every worker's BLAS variable pinned
    assert os.environ["OPENBLAS_NUM_THREADS"] == "7"      # this process's environment restored
    assert "OMP_NUM_THREADS" not in os.environ
    with _one_thread_pool(1) as pool:
        assert pool is None                               # serial: no pool at all


def test_caption_html_lists_a_verdicts_lines_and_escapes():
    from lmsbn.tour import _caption_html

    text = ("What the figure shows, lr < 2/lambda.\n\n"
            "Speed: untestable.\nStability: full 3 & none 0.3.")
    out = _caption_html(text)
    # The description stays a paragraph; the verdict's two lines become two list items.
    assert out == ("<p>What the figure shows, lr &lt; 2/lambda.</p>"
                   "<ul><li>Speed: untestable.</li><li>Stability: full 3 &amp; none 0.3.</li></ul>")
