"""``python -m papertrend.cli``: the same command line as ``papertrend``."""

from . import main

main()
