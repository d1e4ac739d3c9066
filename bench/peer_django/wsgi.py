"""The WSGI application gunicorn serves (bench/server.py PeerServer)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer_django.settings")
application = get_wsgi_application()
