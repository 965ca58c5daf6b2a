"""``python -m wechat_middleware``: the command line (see :mod:`wechat_middleware.cli`)."""

from __future__ import annotations

import sys

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
