"""`python -m microdomain` is the `microdomain` command."""

import sys

from .cli import main

sys.exit(main())
