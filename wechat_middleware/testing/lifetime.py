"""``with`` for the kit's servers and browsers: entering starts, leaving closes."""

from __future__ import annotations

from types import TracebackType
from typing import Any


class Closing:
    """``__exit__`` calls ``close()``; a subclass that starts something overrides
    ``__enter__`` to return ``self.start()``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
