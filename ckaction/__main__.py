"""`python -m ckaction` runs the CLI."""

import sys

from ckaction.cli import main

sys.exit(main())
