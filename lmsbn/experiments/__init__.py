"""One package per paper, each the same shape: the package's docstring states the claims tested
and their provenance, its modules hold one experiment each, and the package re-exports them.

Each experiment is a function returning a result dataclass that saves and loads (``.npz`` + JSON,
see :mod:`lmsbn.io`); plotting lives in :mod:`lmsbn.plot`, never here.

==========  =======================================================================================
``chai``    Chai, Pilanci, Murmann (2020): BatchNorm through adaptive-filter theory (the main paper)
``bjorck``  Bjorck, Gomes, Selman, Weinberger (2018): Understanding Batch Normalization
``wei``     Wei, Stokes, Schwab (2019): Mean-field analysis of Batch Normalization
``ergen``   Ergen, Sahiner, Ozturkler, Pauly, Mardani, Pilanci (2021): Demystifying BatchNorm in
            ReLU networks
==========  =======================================================================================
"""

from lmsbn.experiments import bjorck, chai, ergen, wei

__all__ = ["bjorck", "chai", "ergen", "wei"]
