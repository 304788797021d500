"""Figures for a change of privacy level (issue 16 §1) against the local Google fake.

    DJANGO_SETTINGS_MODULE=calsync.settings.test \
        .venv/bin/python bench/privacy_bench.py [--meetings N]

N future client appointments (default 500) are sent at full details; then the link is set to
*busy* for client appointments, then back to *full*. Each change must be rewritten in one run,
with about one provider request per copy; the quiet poll after it costs what it cost before (the
levels are read only by a run with something to plan).

Runs in a throwaway database created and dropped here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings.test")
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import F  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

from agenda.models import Client, Meeting  # noqa: E402
from bench.sync_bench import add_meetings, make_user, quiet_run  # noqa: E402
from calsync.engine.run import run_link  # noqa: E402
from calsync.models import CalendarLink  # noqa: E402
from tests.engine.helpers import link_google  # noqa: E402
from tests.fakes.google import GoogleFake  # noqa: E402


def change(fake: GoogleFake, link: CalendarLink, level: str) -> None:
    # What link_privacy_update stores, without the run it asks for (Celery is eager here, so
    # that run would happen inside the call): the run is measured on its own below.
    CalendarLink.objects.filter(pk=link.pk).update(
        privacy_client=level, privacy_version=F("privacy_version") + 1
    )
    fake.clear_log()
    begin = time.perf_counter()
    outcome = run_link(link.pk)
    seconds = time.perf_counter() - begin
    link.refresh_from_db()
    assert link.privacy_applied == link.privacy_version
    print(
        f"Level of client appointments set to {level}: one run of {seconds:.1f} s, "
        f"{len(fake.requests)} provider requests, counts {outcome.counts}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meetings", type=int, default=500)
    size = parser.parse_args().meetings

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    fake = GoogleFake().start()
    for name, value in fake.django_settings().items():
        setattr(settings, name, value)
    try:
        user = make_user("privacy")
        add_meetings(user, size)
        assert user.tenant is not None
        client = Client.objects.create(tenant=user.tenant, name="Marit Jansen")
        Meeting.objects.filter(owner=user).update(client=client)  # all client appointments
        link, _ = link_google(user, fake)
        run_link(link.pk)
        quiet_run(fake, link.pk)  # reads the first sync's own writes back
        before = quiet_run(fake, link.pk)
        print(f"No-change run before: {before[0]} SQL queries, {before[1]} provider request(s)")
        change(fake, link, "busy")
        quiet_run(fake, link.pk)
        after = quiet_run(fake, link.pk)
        print(f"No-change run after: {after[0]} SQL queries, {after[1]} provider request(s)")
        change(fake, link, "full")
    finally:
        fake.stop()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
