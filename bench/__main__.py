"""``python -m bench``: every benchmark figure in one run (see bench/all.py)."""

import sys

from bench.all import main

sys.exit(main())
