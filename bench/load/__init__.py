"""``python -m bench.load``: real servers on loopback (127.0.0.1 only), bounded in time.

- ``mix`` (default): the examples on gunicorn and uvicorn under mixed WeChat and plain
  traffic, OAuth dances included; fails on any error, 5xx or extra upstream fetch.
- ``compare``: requests/s of each example against its bare twin on uvicorn and gunicorn
  (the same table as ``python -m bench --only servers``).
- ``stall``: the ~44 ms keep-alive stall of ``uvicorn --workers 2``, before and after
  the bench's fix, on a bare app with one client.
"""
