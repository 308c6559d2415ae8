"""``python -m colonnade.orders``."""

import sys

from colonnade.orders.app import main

if __name__ == "__main__":
    sys.exit(main())
