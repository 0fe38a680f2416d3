"""Training: the loop, its callbacks and history, and the sweeps that run it over a grid.

==========  ======================================================================================
``loop``    ``train`` (minibatch SGD through :class:`~lmsbn.nn.Sequential`), ``evaluate``,
            ``Callback`` / ``StepEvent``, ``History``; divergence is recorded (step and cause),
            never raised
``sweep``   ``run_sweep``: one function over a grid of points, serially, in a process pool or on
            any ``concurrent.futures`` executor (dask's included), each point seeded by its index
==========  ======================================================================================
"""

from lmsbn.train.loop import Callback, History, StepEvent, evaluate, train
from lmsbn.train.sweep import ONE_THREAD_ENV, PointResult, grid, point_seeds, run_sweep

__all__ = ["ONE_THREAD_ENV", "Callback", "History", "PointResult", "StepEvent",
           "evaluate", "grid", "point_seeds", "run_sweep", "train"]
