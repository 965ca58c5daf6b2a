"""What the test suites share: the in-process test apps and their client, the server
launcher for integration and end-to-end tests, the parsed example page, and the hook that
shows a failing test its servers' logs. The browser itself is the product's test kit,
:mod:`wechat_middleware.testing`."""
