"""``python -m colonnade.catalog``."""

import sys

from colonnade.catalog.app import main

if __name__ == "__main__":
    sys.exit(main())
