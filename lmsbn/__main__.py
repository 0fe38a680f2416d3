"""``python -m lmsbn``: the ``lmsbn`` command, for when the console script is not on PATH."""

from lmsbn.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
