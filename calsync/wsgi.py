"""WSGI entry point for gunicorn (production) and runserver."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings.dev")

application = get_wsgi_application()
