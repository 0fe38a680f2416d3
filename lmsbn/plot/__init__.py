"""Figures and animations. Every plotting function takes ``ax=None`` (or ``fig=None``) and returns
the Axes (or Figure); the animation helpers return a ``FuncAnimation``, the saved file's path or
HTML text. None calls ``plt.show()`` or changes global rcParams.

One module per topic:

===============  ==============================================================================
``spectra``      eigenvalue spectra (filters and layers side by side), channel-block heat maps
``curves``       learning curves with theory overlay, mode trajectories (measured vs predicted)
``sweeps``       learning-rate sweep maps, BatchNorm/NLMS ratio and rho over training steps
``animate``      ``animate_modes``: the weight modes evolving during training
``papers``       figures of the other seed papers (Bjorck, Wei, Ergen)
``bounds``       the stability bound: measured onset and blow-up against 2/lambda_max of the
                 Gauss-Newton matrix, and the sharpness 2/lambda_max(t) meeting the lr
===============  ==============================================================================

``from lmsbn.plot import plot_spectrum`` works for any of them: names are looked up in these
modules on first use, so importing :mod:`lmsbn.plot` stays cheap.
"""

import importlib

_MODULES = ("spectra", "curves", "sweeps", "animate", "papers", "bounds", "style")


def __getattr__(name):
    if name.startswith("_"):
        raise AttributeError(name)
    for mod in _MODULES:
        try:
            module = importlib.import_module(f"lmsbn.plot.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"lmsbn.plot.{mod}":
                raise
            continue
        if name in getattr(module, "__all__", ()):
            return getattr(module, name)
    raise AttributeError(f"module 'lmsbn.plot' has no attribute {name!r}")
