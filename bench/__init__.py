"""Benchmarks for wechat_middleware: ``python -m bench`` (micro) and ``python -m bench.load``.

``python -m bench`` prints one table of ratios measured in the same run: signature
generation against wechatpy and the Node library wechat-jssdk, the middleware's
in-process overhead against bare Flask and Starlette apps, memory while signing many
URLs, and upstream fetches when many workers start cold. ``python -m bench.load`` drives
real gunicorn and uvicorn servers over loopback. See BENCHMARKS.md.
"""
