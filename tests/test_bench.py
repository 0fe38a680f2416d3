"""``lmsbn bench`` runs and reports ratios (it asserts nothing about speed: no test times code)."""

import json

import numpy as np

from lmsbn.bench import format_rows, main, run


def test_memory_group_reports_about_one_patch_matrix():
    result = run(quick=True, only=["memory"])
    (row,) = result["rows"]
    assert row["name"].startswith("conv2d fwd+bwd peak memory")
    # Peak memory of a conv forward+backward: at least the patch matrix itself (the cache keeps
    # it), and below two, the claim "one patch matrix per layer at a time" (the rest are
    # input/output-sized arrays, 1/9 and 2/9 of it here; a second full copy would pass 2).
    # Measured 1.36.
    assert 1 <= row["ratio"] < 2
    assert "peak memory" in format_rows(result["rows"])


def test_json_output(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["--quick", "--only", "memory", "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    assert data["machine"]["quick"] is True and len(data["rows"]) == 1
    assert "patch matrix" in capsys.readouterr().out


def test_one_thread_rows_come_back_from_a_pinned_child_process():
    # A tiny shape keeps this quick; what is tested is the mechanism (child process, JSON rows),
    # never a time.
    from lmsbn.bench import _rows_on_one_thread

    rows = _rows_on_one_thread([(2, 3, 4, 8, 8)], seed=0)
    floor = [r for r in rows if r["name"].startswith("conv2d fwd+bwd / GEMM floor (1 thread)")]
    assert len(floor) == 1 and floor[0]["shape"] == "N=2 3->4 8x8"
    assert all(np.isfinite(r["ratio"]) and r["ratio"] > 0 for r in rows)


def test_filter_rows_compare_like_with_like(monkeypatch):
    # The mechanism only (never a time): the padasip-style loop written in the benchmark computes
    # the same filters as lmsbn's run, and the filter group reports its rows on a tiny problem.
    import lmsbn.bench as bench
    from lmsbn.filters import LMS, NLMS

    rng = np.random.default_rng(0)
    U = rng.standard_normal((3, 40, 4))
    d = U @ rng.standard_normal(4)
    for eps, f in ((None, LMS(4, 0.05)), (1e-8, NLMS(4, 0.5, 1e-8))):
        e, w = bench.padasip_style_loop(U, d, f.mu, eps)
        res = f.run(U, d)
        # BLAS dot against einsum, and mu / (eps + |u|^2) * e * u against mu e / (...) * u:
        # round-off of a few ulps per step over 40 stable steps.
        np.testing.assert_allclose(e, res.e, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(w, res.w_final, rtol=1e-10, atol=1e-12)

    monkeypatch.setattr(bench, "FILTER_SHAPE_QUICK", (2, 30, 3))
    rows = run(quick=True, only=["filters"])["rows"]
    names = [r["name"] for r in rows]
    for rule in ("LMS", "NLMS"):
        assert f"{rule} ensemble: padasip-style loop / lmsbn run" in names
        assert f"{rule} ensemble: one-by-one / vectorised" in names
    try:
        import padasip  # noqa: F401
        assert "LMS: padasip one-by-one / lmsbn run" in names
    except ImportError:
        assert not any("padasip one-by-one" in n for n in names)
    assert all(r["shape"] == "2 runs x 30 x 3 taps" and r["ratio"] > 0 for r in rows)
