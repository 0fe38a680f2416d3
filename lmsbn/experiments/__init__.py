"""One module per paper. Each experiment is a function returning a result dataclass that saves
and loads (``.npz`` + JSON, see :mod:`lmsbn.io`); plotting lives in :mod:`lmsbn.plot`.

=========  ========================================================================================
``chai``   Chai, Pilanci, Murmann (2020): BatchNorm through adaptive-filter theory (the main paper)
``bjorck`` Bjorck, Gomes, Selman, Weinberger (2018): Understanding Batch Normalization
``wei``    Wei, Stokes, Schwab (2019): Mean-field analysis of Batch Normalization
``ergen``  Ergen, Sahiner, Ozturkler, Pauly, Mardani, Pilanci (2021): Demystifying BatchNorm in ReLU networks
=========  ========================================================================================
"""
