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

``from lmsbn.plot import plot_spectrum`` works for any of them. The modules import pyplot only
inside the functions that draw, so importing :mod:`lmsbn.plot` is cheap.
"""

from lmsbn.plot.animate import animate_modes, save_animation, to_html
from lmsbn.plot.bounds import plot_bound_check, plot_sharpness
from lmsbn.plot.curves import (
    plot_learning_curve,
    plot_mode_decay,
    plot_mode_trajectories,
    plot_training_modes,
)
from lmsbn.plot.papers import (
    plot_activation_growth,
    plot_condition_growth,
    plot_ergen_convergence,
    plot_ergen_fit,
    plot_ergen_objectives,
    plot_gamma_lr_map,
    plot_gradient_histograms,
    plot_same_lr,
)
from lmsbn.plot.spectra import plot_channel_blocks, plot_spectra, plot_spectrum
from lmsbn.plot.style import (
    LINE_COLORS,
    MARKERS,
    NORM_COLORS,
    OKABE_ITO,
    get_axes,
    line_style,
    readable_log_axis,
)
from lmsbn.plot.sweeps import plot_bn_nlms_drift, plot_eigen_spectra, plot_first_step, plot_lr_sweep

__all__ = [
    "LINE_COLORS", "MARKERS", "NORM_COLORS", "OKABE_ITO", "animate_modes", "get_axes",
    "line_style", "plot_activation_growth", "plot_bn_nlms_drift", "plot_bound_check",
    "plot_channel_blocks", "plot_condition_growth", "plot_eigen_spectra", "plot_ergen_convergence",
    "plot_ergen_fit", "plot_ergen_objectives", "plot_first_step", "plot_gamma_lr_map",
    "plot_gradient_histograms", "plot_learning_curve", "plot_lr_sweep", "plot_mode_decay",
    "plot_mode_trajectories", "plot_same_lr", "plot_sharpness", "plot_spectra", "plot_spectrum",
    "plot_training_modes", "readable_log_axis", "save_animation", "to_html",
]
