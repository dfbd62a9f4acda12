"""``python3 -m chard_runtime ARGS``: the same command line as the generated chard_runtime.py."""

import sys

from .step import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
