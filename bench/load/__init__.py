"""``python -m bench.load``: real servers on loopback under a bounded mixed load.

Starts a FakeWeChat, then in turn a gunicorn (4 sync workers, the Flask example) and a
uvicorn (2 workers, the Starlette example), all sharing one SQLite token store, and
drives each for ``--seconds`` with logged-in WeChat visits, first visits that go
through the whole OAuth dance, and non-WeChat traffic. Prints requests/s, p50, p99,
errors, 5xx and the upstream fetch counts; exits 0 only with no error and no 5xx.
"""
