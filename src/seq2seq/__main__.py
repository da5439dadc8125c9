"""`python -m seq2seq` (also what torchrun launches)."""

import sys

from .cli import main

sys.exit(main())
