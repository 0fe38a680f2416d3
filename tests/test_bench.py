"""``lmsbn bench`` runs and reports ratios (it asserts nothing about speed: no test times code)."""

import json
import os

import numpy as np
import pytest

from lmsbn.bench import format_rows, main, run


def test_memory_group_reports_patch_matrices(monkeypatch):
    import lmsbn.bench as bench

    # A smaller batch of the benchmark's layer (16->32, 32x32): the ratios do not depend on N.
    monkeypatch.setattr(bench, "CONV_SHAPES", (None, (8, 16, 32, 32, 32)))
    result = run(quick=True, only=["memory"])
    [row] = result["rows"]
    assert row["name"] == "conv2d fwd+bwd peak memory / one patch matrix"
    # Peak memory of a conv forward+backward in patch matrices: U (kept in the cache) and the
    # patch gradient dU are both alive in the backward pass, plus input/output-sized arrays
    # (1/8 and 2/9 of U each here), so between 2 and 3; a third full copy would pass 3.
    # Measured 2.6.
    assert 2 <= row["ratio"] < 3
    assert "peak memory" in format_rows(result["rows"])


def test_json_output(tmp_path, capsys, monkeypatch):
    import lmsbn.bench as bench

    monkeypatch.setattr(bench, "CONV_SHAPES", (None, (8, 16, 32, 32, 32)))  # as above
    path = tmp_path / "bench.json"
    assert main(["--quick", "--only", "memory", "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    assert data["machine"]["quick"] is True and len(data["rows"]) == 1
    out = capsys.readouterr().out
    assert "patch matrix" in out
    # The memory row has no goal; the goals line says so, in the table and in the JSON.
    assert data["goals"] == "goals: none among these rows" and data["goals"] in out


def test_one_thread_rows_come_back_from_a_pinned_child_process(monkeypatch):
    # A tiny shape keeps this quick; what is tested is the mechanism (child process, JSON rows),
    # never a time. This process is made to look unpinned so that a child must be started.
    import lmsbn.bench as bench

    for k in bench.ONE_THREAD_ENV:
        monkeypatch.delenv(k, raising=False)
    assert bench._child_env("default threads") is None          # this process runs the default
    env = bench._child_env("1 thread")
    assert all(env[k] == "1" for k in bench.ONE_THREAD_ENV)
    rows = bench._rows_at("1 thread", [(2, 3, 4, 8, 8)], seed=0)
    floor = [r for r in rows if r["name"] == "conv2d fwd+bwd / GEMM floor (1 thread)"]
    assert len(floor) == 1 and floor[0]["shape"] == "N=2 3->4 8x8"
    assert all(np.isfinite(r["ratio"]) and r["ratio"] > 0 for r in rows)
    torch_rows = [r for r in rows if "torch" in r["name"]]
    try:
        import torch  # noqa: F401
    except ImportError:
        assert torch_rows == []              # torch stays optional: no rows, no error
    else:
        assert "conv2d fwd+bwd: lmsbn / torch CPU (1 thread)" in {r["name"] for r in torch_rows}
        assert all("torch threads: 1" in r["detail"] for r in torch_rows if "conv2d" in r["name"])


def test_a_pinned_process_measures_default_threads_in_an_unpinned_child(monkeypatch):
    # Started with every BLAS pinned to one thread (as CI does), the bench still reports the
    # default-threads rows: from a child whose environment drops the pins.
    import lmsbn.bench as bench

    for k, v in bench.ONE_THREAD_ENV.items():
        monkeypatch.setenv(k, v)
    assert bench._child_env("1 thread") is None
    env = bench._child_env("default threads")
    assert not any(k in env for k in bench.ONE_THREAD_ENV) and env["PATH"] == os.environ["PATH"]
    rows = bench._rows_at("default threads", [(2, 3, 4, 8, 8)], seed=0, with_torch=False)
    assert [r["name"] for r in rows] == ["conv2d fwd+bwd / GEMM floor (default threads)"]
    assert "no thread variable set" in rows[0]["detail"]      # as read in the child


def test_conv_group_reports_both_thread_settings_in_one_run(monkeypatch):
    # Mechanism only: one run gives the one-thread rows and the default-thread rows for each
    # path. The conv problem is shrunk so that this stays quick; the child processes are tested
    # above, here both settings run in-process, and torch is left out (importing it is slow).
    import lmsbn.bench as bench

    monkeypatch.setattr(bench, "CONV_SHAPES", ((2, 3, 4, 8, 8),))
    monkeypatch.setattr(bench, "_torch", lambda one_thread: None)
    monkeypatch.setattr(bench, "_child_env", lambda threads: None)
    rows = run(quick=True, only=["conv"])["rows"]
    names = {r["name"] for r in rows}
    for threads in bench.THREADS:
        assert f"conv2d fwd+bwd / GEMM floor ({threads})" in names
    assert "conv2d fwd+bwd: naive / readable" in names


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


def test_page_fault_count():
    from lmsbn.bench import _faults_per_call

    pytest.importorskip("resource", reason="page-fault counts need the POSIX resource module")

    def fresh_64mib():
        # 64 MiB is above glibc's largest mmap threshold (32 MiB), so every call maps new pages
        # and touching them faults; other allocators also hand out fresh pages at this size.
        np.ones(8 * 2**20)

    # One fault per 4 KiB page would be 16384; huge pages (2 MiB) need only 32.
    assert _faults_per_call(fresh_64mib) >= 32
    assert _faults_per_call(lambda: None) < 32


def test_goal_verdict_counts_met_and_missed_goals():
    from lmsbn.bench import goal_verdict

    rows = [{"name": "conv / floor", "shape": "3->16", "ratio": 1.62, "goal": ["<=", 1.6]},
            {"name": "conv / floor", "shape": "16->32", "ratio": 1.35, "goal": ["<=", 1.6]},
            {"name": "padasip / ensemble", "shape": "200", "ratio": 33.5, "goal": [">=", 10.0]},
            {"name": "conv / floor (default threads)", "shape": "3->16", "ratio": 2.1}]
    # The row without a goal is not judged; 1.62 > 1.6 is the one miss, named with its number.
    assert goal_verdict(rows) == ("goals: 2 of 3 met; not met: conv / floor 3->16 1.62x "
                                  "(goal <= 1.6)")
    assert goal_verdict(rows[1:]) == "goals: 2 of 2 met"
    assert goal_verdict(rows[3:]) == "goals: none among these rows"


def test_only_the_goal_setting_rows_carry_a_goal():
    from lmsbn.bench import thread_rows

    # A small shape, in this process: the floor row at one thread carries the floor goal; the
    # same row labelled default threads carries none (its ratio mixes overhead with core count).
    shape = [(4, 3, 4, 8, 8)]
    [one] = thread_rows(shape, 0, "1 thread", with_torch=False)
    [default] = thread_rows(shape, 0, "default threads", with_torch=False)
    assert one["goal"] == ["<=", 1.6] and "goal" not in default


def test_every_other_group_runs_end_to_end(monkeypatch):
    # The groups without a test of their own (train, tracker, filters, papers), run once each
    # with the timer replaced by one call of each side: this checks the wiring (imports, shapes,
    # row fields), never a time. The full bench once failed here on an import left behind by a
    # module move.
    import lmsbn.bench as bench

    def once(num, den, **_):
        num()
        den()
        return 1.0

    monkeypatch.setattr(bench, "time_ratio", once)
    monkeypatch.setattr(bench, "_slow_ratio", once)
    rows = run(quick=True, only=["train", "tracker", "filters", "papers"])["rows"]
    names = [r["name"] for r in rows]
    assert names[:2] == ["small_cnn train step: BN / no-BN",
                         "small_cnn training: with ModeTracker / without"]
    assert "FIM power-iteration step / training step" in names
    assert sum(n.endswith("ensemble: padasip-style loop / lmsbn run") for n in names) == 2
    convex = rows[names.index("Ergen convex program: iterations to tol 1e-3")]
    assert convex["ratio"] >= 1 and "converged=True" in convex["detail"]
    # Every stubbed ratio is 1: the tracker's goal (<= 1.25) is met, the two ensemble goals
    # (>= 10) are not, so the goals line must count 1 of 3.
    assert bench.goal_verdict(rows).startswith("goals: 1 of 3 met; not met: LMS ensemble")


def test_the_keep_memory_rows_come_from_a_child_with_the_malloc_tunables():
    # The diagnostic setting always runs in a child started with one BLAS thread and glibc's
    # keep-memory tunables; its floor row has no goal and says what it is.
    import lmsbn.bench as bench

    env = bench._child_env(bench.KEEP_MEMORY)
    assert all(env[k] == "1" for k in bench.ONE_THREAD_ENV)
    assert all(env[k] == v for k, v in bench.KEEP_MEMORY_ENV.items())
    [row] = bench._rows_at(bench.KEEP_MEMORY, [(2, 3, 4, 8, 8)], seed=0, with_torch=False)
    assert row["name"] == "conv2d fwd+bwd / GEMM floor (1 thread, freed memory kept)"
    assert "goal" not in row and "MALLOC_TRIM_THRESHOLD_=1000000000" in row["detail"]
    assert bench.goal_verdict([row]) == "goals: none among these rows"
