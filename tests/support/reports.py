"""The one failure-report hook: a failing test shows what its servers (and browser) logged.

Any fixture value with a ``log_title``, ``log_size()`` and ``log(since)`` takes part
(:class:`~tests.support.servers.AppServer`, the end-to-end tests' browser console), also
inside a tuple (two hosts). What it logged before the test started is left out.
tests/conftest.py imports the hook, so it runs for every suite.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol, runtime_checkable

import pytest


@runtime_checkable
class KeptLog(Protocol):
    """Something a test ran against that keeps a log."""

    @property
    def log_title(self) -> str: ...

    def log_size(self) -> int: ...

    def log(self, since: int = 0) -> str: ...


_LOG_OFFSETS = pytest.StashKey[dict[int, int]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Attach to a failed test's report what its logs gained during the test."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    # A fixture may give one server or several (a tuple, e.g. two hosts).
    values = [v for value in funcargs.values() for v in _as_tuple(value)]
    logs = [value for value in values if isinstance(value, KeptLog)]
    if report.when == "setup":
        item.stash[_LOG_OFFSETS] = {id(log): log.log_size() for log in logs}
    elif report.failed:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for log in logs:
            report.sections.append((log.log_title, log.log(offsets.get(id(log), 0)) or "(nothing)"))


def _as_tuple(value: object) -> tuple[object, ...]:
    return value if isinstance(value, tuple) else (value,)
