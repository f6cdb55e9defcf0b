"""`python -m devstack up|status|down`: what scripts/stack runs (devstack.cli)."""

import sys

from devstack.cli import main

sys.exit(main())
