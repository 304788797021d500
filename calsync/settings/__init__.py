"""Settings, split by purpose: ``base`` (shared, read from the environment), ``dev`` (the embedded
default: SQLite, a filesystem Celery broker), ``test`` (real PostgreSQL and Redis) and ``prod``
(PostgreSQL and Redis required; refuses to start without its secrets)."""
