"""What a page says when the database could not take a write in time.

On SQLite (the embedded default) a write waits up to the busy timeout for the write lock
(calsync/settings/dev.py) and then fails with ``OperationalError: database is locked``; on
PostgreSQL an ``OperationalError`` is a lost connection or a cancelled statement. Either way the
transaction rolled back and nothing was saved: the user is told so, and may try again.
"""

from django.utils.translation import gettext_lazy as _

# Lazy: views of every app hand it to messages and forms, and it is read in the request's language.
BUSY_MESSAGE = _(
    "CalSync is busy with other changes and could not save this one in time. Nothing was "
    "changed: please try again."
)
