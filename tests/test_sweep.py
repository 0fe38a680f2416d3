"""lmsbn.train.sweep: grid order, failures recorded, reproducible seeds across executors."""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lmsbn.train import PointResult, grid, point_seeds, run_sweep


# Module-level functions: a process pool must be able to pickle them.
def noisy_sum(a, b, rng):
    """Deterministic given its arguments: a few normals from the point's own seed."""
    return a + b + np.random.default_rng(rng).standard_normal(4)


def fails_on_three(a):
    if a == 3:
        raise ValueError("three is a bad point")
    return a * 10


def slow_first(a):
    time.sleep(0.05 if a == 0 else 0.0)  # the first point finishes last on a pool
    return a


def test_grid_is_the_cartesian_product_last_axis_fastest():
    points = grid(lr=[0.1, 1.0], norm=["none", "full", "amplify"])
    assert len(points) == 6
    assert points[0] == {"lr": 0.1, "norm": "none"}
    assert points[1] == {"lr": 0.1, "norm": "full"}
    assert points[3] == {"lr": 1.0, "norm": "none"}
    assert grid(a=np.array([1, 2]))[1] == {"a": 2}


@pytest.mark.parametrize("axes, err", [({}, ValueError), ({"a": []}, ValueError),
                                       ({"a": "abc"}, TypeError), ({"a": 3}, TypeError)])
def test_grid_rejects_bad_axes(axes, err):
    with pytest.raises(err, match="axis|grid"):
        grid(**axes)


def test_serial_results_come_back_in_grid_order_and_accept_a_dict_of_axes():
    res = run_sweep(fails_on_three, {"a": [1, 2, 4]})
    assert [r.value for r in res] == [10, 20, 40]
    assert [r.index for r in res] == [0, 1, 2]
    assert all(isinstance(r, PointResult) and r.ok and r.seconds >= 0 for r in res)


def test_a_failing_point_is_recorded_and_the_sweep_goes_on():
    res = run_sweep(fails_on_three, grid(a=[1, 3, 5]))
    assert [r.ok for r in res] == [True, False, True]
    assert res[1].value is None
    assert res[1].error.startswith("ValueError: three is a bad point")
    assert "Traceback" in res[1].error  # the traceback is kept for debugging
    assert res[2].value == 50


def test_failures_are_recorded_on_a_pool_too():
    with ThreadPoolExecutor(2) as pool:
        res = run_sweep(fails_on_three, grid(a=[3, 4]), executor=pool)
    assert not res[0].ok and "bad point" in res[0].error and res[1].value == 40


def test_results_are_in_grid_order_whatever_the_completion_order():
    with ThreadPoolExecutor(4) as pool:
        res = run_sweep(slow_first, grid(a=[0, 1, 2, 3]), executor=pool)
        # The executor belongs to the caller: run_sweep must not have shut it down.
        assert pool.submit(slow_first, 7).result() == 7
    assert [r.value for r in res] == [0, 1, 2, 3]


def test_serial_and_process_pool_runs_are_bit_identical():
    points = grid(a=[0.0, 1.0, 2.0], b=[0.5, -0.5])
    serial = run_sweep(noisy_sum, points, seed=123)
    pooled = run_sweep(noisy_sum, points, seed=123, n_jobs=2)
    assert all(r.ok for r in pooled), [r.error for r in pooled]
    for s, p in zip(serial, pooled):
        assert s.point == p.point
        np.testing.assert_array_equal(s.value, p.value)  # bit for bit, not allclose
    # Each point has its own stream: different points draw different noise.
    assert not np.array_equal(serial[0].value - 0.5, serial[1].value + 0.5)


def test_point_seeds_depend_only_on_seed_and_index():
    assert point_seeds(5, 4) == point_seeds(5, 4)
    assert point_seeds(5, 6)[:4] == point_seeds(5, 4)  # growing the grid keeps earlier seeds
    assert point_seeds(5, 4) != point_seeds(6, 4)
    assert len(set(point_seeds(0, 100))) == 100


def test_progress_line_goes_to_stderr_only_when_asked(capsys):
    run_sweep(fails_on_three, grid(a=[1, 2]))
    assert capsys.readouterr().err == ""
    run_sweep(fails_on_three, grid(a=[1, 3]), progress=True)
    err = capsys.readouterr().err
    assert "2/2" in err and "1 failed" in err


@pytest.mark.parametrize("kwargs, err, match", [
    ({"fn": 3}, TypeError, "fn must be callable"),
    ({"points": "abc"}, TypeError, "points"),
    ({"points": [1, 2]}, TypeError, r"points\[0\]"),
    ({"n_jobs": 0}, ValueError, "n_jobs"),
    ({"executor": "pool"}, TypeError, "executor"),
    ({"points": [{"a": 1, "rng": 2}], "seed": 1}, ValueError, "overwrite"),
    ({"seed": 1, "seed_name": "not a name"}, ValueError, "seed_name"),
])
def test_bad_arguments_raise_clear_errors(kwargs, err, match):
    args = {"fn": fails_on_three, "points": [{"a": 1}], **kwargs}
    with pytest.raises(err, match=match):
        run_sweep(args.pop("fn"), args.pop("points"), **args)


# ------------------------------------------------------------------------- the lmsbn sweep command
# A tiny Chai grid: 2 norms x 2 lrs x 3 steps (lr 30 diverges without BatchNorm, so a diverged
# point travels through every executor too).
TINY_CHAI = ["--quick", "--lrs", "0.1,30", "--norms", "none,full", "--steps", "3"]


def _tiny_chai_serial():
    """What ``lmsbn sweep chai <TINY_CHAI> --seed 0`` computes, run serially."""
    from lmsbn.experiments.chai import lr_sweep

    return lr_sweep(quick=True, lrs=[0.1, 30.0], norms=["none", "full"], steps=3, seeds=(0,),
                    rng=0)


def _same(a, b):
    """Every array and parameter of two LRSweeps equal, bit for bit (NaN equal to NaN)."""
    for name, value in vars(a).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(b, name), value, err_msg=name)
        else:
            assert getattr(b, name) == value, name


def test_sweep_command_writes_the_result_and_its_figure(tmp_path, capsys):
    from lmsbn.cli import main
    from lmsbn.experiments.chai import LRSweep

    assert main(["sweep", "chai", *TINY_CHAI, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr()
    saved = LRSweep.load(tmp_path / "a" / "chai_lr_sweep.npz")
    assert (tmp_path / "a" / "chai_lr_sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert saved.diverged[0, 1].all() and not saved.diverged[1].any()   # none @ lr 30 only
    assert saved.verdict() in out.out and "ran serially" in out.err
    # A process pool of 2 gives the same result: the point seeds do not depend on scheduling,
    # and the workers run the same NumPy on the same inputs.
    assert main(["sweep", "chai", *TINY_CHAI, "--workers", "2", "--out", str(tmp_path / "b")]) == 0
    assert "2 worker processes" in capsys.readouterr().err
    _same(saved, LRSweep.load(tmp_path / "b" / "chai_lr_sweep.npz"))


@pytest.mark.parametrize("argv, message", [
    (["sweep", "wei", "--norms", "none"], "--norms is for the chai sweep"),
    (["sweep", "chai", "--gammas", "1"], "--gammas is for the wei sweep"),
])
def test_sweep_command_rejects_options_of_the_other_experiment(argv, message, capsys, tmp_path):
    from lmsbn.cli import main

    assert main([*argv, "--quick", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_sweep_command_scheduler_needs_the_distributed_extra(monkeypatch, capsys, tmp_path):
    import sys

    from lmsbn.cli import main

    monkeypatch.setitem(sys.modules, "dask.distributed", None)   # import fails as if absent
    assert main(["sweep", "chai", "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path)]) == 2
    assert 'pip install "lmsbn[distributed]"' in capsys.readouterr().err


def test_sweep_command_on_a_dask_local_cluster_matches_the_serial_run(tmp_path, capsys):
    distributed = pytest.importorskip("distributed", reason="needs the [distributed] extra")
    from lmsbn.cli import main
    from lmsbn.experiments.chai import LRSweep

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        # The serial reference runs in one of the cluster's worker processes: dask gives its
        # workers one BLAS thread (OPENBLAS_NUM_THREADS=1), and the same NumPy with the same
        # threads on the same inputs is what makes bit-identity a fair demand.
        serial = client.submit(_tiny_chai_serial, pure=False).result()
        assert main(["sweep", "chai", *TINY_CHAI, "--scheduler", cluster.scheduler_address,
                     "--out", str(tmp_path)]) == 0
        assert f"dask scheduler {cluster.scheduler_address}" in capsys.readouterr().err
        # The cluster outlived the CLI's client.
        assert len(client.scheduler_info()["workers"]) == 2
    _same(serial, LRSweep.load(tmp_path / "chai_lr_sweep.npz"))
    assert serial.diverged[0, 1].all()
