#!/usr/bin/env python3
"""The Docker action's entrypoint: hand the runner's environment to ckaction and exit with its code."""

import sys

from ckaction.cli import action_main

if __name__ == "__main__":
    sys.exit(action_main())
