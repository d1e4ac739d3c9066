"""A peer for `make bench`: GET /api/v1/profile written the way a typical Django shop would write it (Django
REST framework, unmanaged models over our tables, a token authentication class, a ModelSerializer), served the
standard way (gunicorn, one sync worker). bench/run.py runs it on the database the app was just measured on,
with the same token, so the report can say how many times the peer's throughput ours is.

It is bench code, not product code: it reads our tables and writes nothing. It is kept honest, not slow:
persistent database connections, no session or CSRF middleware, JSON renderer only, DEBUG off.

    DATABASE_URL=sqlite:////tmp/bench.db .venv/bin/gunicorn --workers 1 --bind 127.0.0.1:8001 \\
        bench.peer_django.wsgi:application
"""
