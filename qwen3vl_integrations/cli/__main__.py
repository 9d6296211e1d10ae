"""``python -m qwen3vl_integrations.cli`` is the ``qwen3vl`` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
