"""The library version, in a module of its own so that :mod:`lmsbn.io` can read it without
importing the package root (issue 14: nothing below the faces should depend on ``lmsbn``'s
``__init__``)."""

__version__ = "0.1.0"
