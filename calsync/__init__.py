"""The CalSync Django project and sync core. Importing the Celery app here makes
``shared_task`` bind to it whenever Django starts (the documented Celery-Django layout)."""

from calsync.celery import app as celery_app

__all__ = ["celery_app"]
