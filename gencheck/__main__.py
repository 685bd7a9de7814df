"""`python -m gencheck ...`: the same as the `gencheck` command."""

import sys

from gencheck.cli import main

if __name__ == "__main__":
    sys.exit(main())
