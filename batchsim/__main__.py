"""``python -m batchsim serve`` is the same as ``batchsim serve``."""

import sys

from ._serve.cli import main

if __name__ == "__main__":  # not when a results-writer process imports this module
    sys.exit(main())
