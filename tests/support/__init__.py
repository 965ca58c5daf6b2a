"""What only this repository's test suites share: the in-process test apps and their
client, the server launcher for integration and end-to-end tests (and the page and SDK
servers beside it), a real Redis, the parsed example page, and the hook that shows a
failing test its servers' logs. What users of the package get (the fakes, the browser,
the pytest plugin) is :mod:`wechat_middleware.testing`, which these build on."""
