"""``python -m batchsim serve`` is the same as ``batchsim serve``."""

import sys

from ._cli import main

sys.exit(main())
