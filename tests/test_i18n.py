"""CalSync in Dutch (issue 18 §11): every string marked, every marked string translated, the
language chosen by the user with the browser's as default. The checks themselves are in
tests/i18n_checks.py; each failure names the file and line, or the page, to fix."""

from __future__ import annotations

import gettext as gettext_module
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone, translation

from accounts.models import Role, User
from billing.services import credits_grant, subscription_purchase
from calsync.engine import run as sync_run
from calsync.engine.plan import Note
from calsync.models import LinkState
from recurrence import Frequency, Rule, Weekday, from_rrule
from tests import i18n_checks
from tests.factories import PASSWORD, TenantFactory, UserFactory, make_meeting
from tests.test_scheduler import make_link

AMS = ZoneInfo("Europe/Amsterdam")
CATALOGUE = i18n_checks.ROOT / "locale" / "nl" / "LC_MESSAGES"


def test_every_template_text_is_marked_for_translation() -> None:
    found = [f for p in i18n_checks.template_files() for f in i18n_checks.template_findings(p)]
    assert not found, f"{len(found)} template texts not in {{% translate %}}:\n" + "\n".join(found)


def test_every_python_text_users_read_is_marked_for_translation() -> None:
    found = [f for p in i18n_checks.python_files() for f in i18n_checks.python_findings(p)]
    assert not found, f"{len(found)} literals users read, not in gettext:\n" + "\n".join(found)


def test_every_script_text_is_marked_for_translation() -> None:
    scripts = sorted((i18n_checks.ROOT / "static").rglob("*.js"))
    assert scripts, "no scripts found: the check would pass on nothing"
    found = [f for p in scripts for f in i18n_checks.js_findings(p)]
    assert not found, "script strings not in gettext():\n" + "\n".join(found)


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    """Each check, fed a file with one unmarked and one marked string, finds only the first: a
    check that finds nothing passes on nothing."""
    template = tmp_path / "t.html"
    template.write_text(
        '{% load i18n %}<h1>{% translate "Marked" %}</h1>\n<p title="Plain title">{{ x }}</p>\n'
        "{% blocktranslate %}Also {{ x }} marked{% endblocktranslate %}{# a comment #}"
    )
    i18n_checks_root = i18n_checks.ROOT
    try:
        i18n_checks.ROOT = tmp_path
        assert i18n_checks.template_findings(template) == ["t.html:2: 'Plain title'"]
        module = tmp_path / "m.py"
        module.write_text(
            "from django.contrib import messages\nfrom django.utils.translation import gettext\n"
            "messages.success(request, gettext('Saved.'))\nmessages.error(request, 'Not saved.')\n"
        )
        assert i18n_checks.python_findings(module) == ["m.py:4: a flash message: 'Not saved.'"]
        script = tmp_path / "s.js"
        script.write_text("el.textContent = gettext('Up to date');\nel.title = 'Not up to date';\n")
        assert i18n_checks.js_findings(script) == ["s.js:2: 'Not up to date'"]
    finally:
        i18n_checks.ROOT = i18n_checks_root
    assert i18n_checks.unmarked_text(
        "<p>\u27e6Saved\u27e7 Anna</p><p>Plain</p>", frozenset({"Anna"})
    ) == ["line 1: 'Plain'"]


# -- the catalogue --------------------------------------------------------------------------------


def _compiled(path: Path) -> dict[object, str]:
    with path.open("rb") as f:
        return dict(gettext_module.GNUTranslations(f)._catalog)  # type: ignore[attr-defined]


def test_the_dutch_catalogue_translates_every_marked_string() -> None:
    catalogue = _compiled(CATALOGUE / "django.mo")
    missing = [
        f"{where}: {key!r}"
        for key, where in sorted(i18n_checks.marked_msgids().items(), key=lambda kv: kv[1])
        if not catalogue.get(key)
    ]
    assert not missing, (
        f"{len(missing)} marked strings have no Dutch translation (run scripts/messages, translate "
        "the new entries of locale/nl/LC_MESSAGES/django.po, run it again):\n" + "\n".join(missing)
    )


def test_the_compiled_catalogue_is_the_po_file(tmp_path: Path) -> None:
    """The committed .mo (what Django reads) holds exactly the committed .po: an edit of the .po
    that was not compiled would not reach a page. msgfmt --check also refuses a translation
    whose placeholders differ from its msgid's."""
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "GNU gettext's msgfmt is missing: scripts/lib.sh ensure_gettext installs it"
    fresh = tmp_path / "django.mo"
    subprocess.run(
        [msgfmt, "--check", "-o", str(fresh), str(CATALOGUE / "django.po")],
        check=True,
        capture_output=True,
    )
    assert _compiled(CATALOGUE / "django.mo") == _compiled(fresh)


# -- pages under the pseudo-translation ------------------------------------------------------------


@pytest.fixture
def pseudo() -> Iterator[None]:
    """Dutch pages rendered with ``PseudoTranslation``: every translated string marked."""
    with i18n_checks.pseudo_translation():
        yield


# The words of the data below: names, titles, addresses are the practice's, not ours to translate.
DATA_WORDS = frozenset(
    {"Praktijk", "Noord", "Anna", "Visser", "Bram", "Smit", "Cees", "Bakker", "Weekoverleg"}
    | {"Intake", "Oude", "agenda", "CS_Anna", "anna", "bram", "cees", "boss", "example", "test"}
    | {"gmail", "noord", "praktijk", "Factuur"}
    | {"CS"}  # "CS_Anna" reads as the words "CS" and "Anna"
)


def _unmarked(client: Client, paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="nl", follow=True)
        assert response.status_code in (200, 403, 404), (path, response.status_code)
        html = response.content.decode()
        found += [f"{path} {f}" for f in i18n_checks.unmarked_text(html, DATA_WORDS)]
    return found


@pytest.mark.django_db
def test_no_page_shows_unmarked_words_in_any_role(pseudo: None) -> None:
    tenant = TenantFactory(name="Praktijk Noord", slug="praktijk-noord")
    admin = UserFactory(
        tenant=tenant, role=Role.ADMIN, email="boss@noord.example.test", full_name="Cees Bakker"
    )
    staff = UserFactory(
        tenant=tenant, role=Role.STAFF, email="anna@noord.example.test", full_name="Anna Visser"
    )
    UserFactory(
        tenant=tenant, role=Role.STAFF, email="bram@noord.example.test", full_name="Bram Smit"
    )
    sub = subscription_purchase(tenant=tenant, user=staff, actor=admin)
    credits_grant(tenant=tenant, amount=10, reason="Factuur 12")
    series = make_meeting(
        staff,
        title="Weekoverleg",
        start=datetime(2026, 11, 3, 9, 0, tzinfo=AMS),
        rule=Rule(Frequency.WEEKLY, until=date(2027, 6, 29), weekdays=frozenset([Weekday(1)])),
    )
    single = make_meeting(staff, title="Intake", start=timezone.now() + timedelta(days=1))
    synced = make_link(staff, cursor="t", last_success_at=timezone.now(), calendar_name="CS_Anna")
    broken = make_link(staff, state=LinkState.NEEDS_RECONNECT, calendar_name="Oude agenda")
    # Messages stored the way a run stores them: one of the engine's own, one of the recurrence
    # module's; each keeps its source and the page renders it in the reader's language.
    daily = from_rrule("RRULE:FREQ=DAILY;INTERVAL=3", datetime(2026, 12, 1, 9, 0, tzinfo=AMS))
    unsynced = sync_run.not_synchronised(single, OverflowError())
    sync_run._notes(
        synced,
        [
            Note(str(single.pk), "invalid", unsynced, "1"),
            Note("outside-1", "daily", daily.messages[0], "2", "Weekoverleg", "2026-12-01"),
        ],
    )

    anonymous = Client()
    found = _unmarked(
        anonymous,
        ["/account/login/", "/account/signup/", "/account/password-reset/", "/no/such/page/"],
    )
    practitioner = Client()
    assert practitioner.login(username=staff.email, password=PASSWORD)
    found += _unmarked(
        practitioner,
        [
            "/calendar/",
            "/calendar/meetings/new/",
            f"/calendar/meetings/{series.pk}/?on=2026-12-01",
            f"/calendar/meetings/{series.pk}/edit/",
            f"/calendar/meetings/{single.pk}/",
            f"/calendar/meetings/{single.pk}/delete/",
            "/account/",
            "/account/calendarsync/",
            "/account/calendarsync/caldav/",
            "/account/calendarsync/caldav/?icloud=1",
            f"/account/calendarsync/{broken.pk}/reconnect/",
            "/welcome/",
            "/settings/",
        ],
    )
    administrator = Client()
    assert administrator.login(username=admin.email, password=PASSWORD)
    found += _unmarked(
        administrator,
        [
            "/settings/",
            "/settings/people/",
            f"/settings/people/{staff.pk}/deactivate/",
            "/settings/integrations/",
            "/settings/integrations/calendar-sync/buy/",
            f"/settings/integrations/calendar-sync/{sub.pk}/cancel/",
            "/settings/integrations/credits/",
            "/settings/privacy/",
            "/welcome/",
            "/calendar/",
        ],
    )
    assert not found, f"{len(found)} texts with words outside gettext:\n" + "\n".join(found)


# -- choosing the language ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_browser_language_decides_until_the_user_chooses_one() -> None:
    user = UserFactory(email="taal@example.test")
    client = Client()
    login = client.get("/account/login/", HTTP_ACCEPT_LANGUAGE="nl-NL,nl;q=0.9,en;q=0.5")
    assert login.headers["Content-Language"] == "nl"
    assert '<html lang="nl"' in login.content.decode()
    assert "Accept-Language" in login.headers["Vary"]
    assert (
        client.get("/account/login/", HTTP_ACCEPT_LANGUAGE="fr").headers["Content-Language"] == "en"
    )

    client.post(
        "/account/login/",
        {"username": user.email, "password": PASSWORD},
        HTTP_ACCEPT_LANGUAGE="nl",
    )
    user.refresh_from_db()
    assert (user.language, user.browser_language, user.preferred_language()) == ("", "nl", "nl")

    # My Account: English, whatever the browser says; then back to the browser's.
    saved = client.post(
        "/account/",
        {"full_name": user.full_name, "time_zone": user.time_zone, "language": "en"},
        HTTP_ACCEPT_LANGUAGE="nl",
    )
    assert saved.status_code == 302
    page = client.get("/account/", HTTP_ACCEPT_LANGUAGE="nl")
    assert page.headers["Content-Language"] == "en"
    user.refresh_from_db()
    assert user.preferred_language() == "en"
    client.post(
        "/account/",
        {"full_name": user.full_name, "time_zone": user.time_zone, "language": ""},
        HTTP_ACCEPT_LANGUAGE="nl",
    )
    assert client.get("/account/", HTTP_ACCEPT_LANGUAGE="nl").headers["Content-Language"] == "nl"


@pytest.mark.django_db
def test_my_account_refuses_a_language_we_do_not_have() -> None:
    user = UserFactory(email="klingon@example.test")
    client = Client()
    assert client.login(username=user.email, password=PASSWORD)
    page = client.post(
        "/account/", {"full_name": user.full_name, "time_zone": user.time_zone, "language": "tlh"}
    )
    assert page.status_code == 200
    assert "tlh" in page.content.decode()  # Django's "Select a valid choice. tlh is not one…"
    user.refresh_from_db()
    assert user.language == ""


@pytest.mark.django_db
def test_dates_follow_the_language() -> None:
    moment = datetime(2026, 12, 1, 21, 47, tzinfo=AMS)
    from django.utils import formats

    with translation.override("en"):
        assert formats.date_format(moment, "DATETIME_FORMAT") == "1 December 2026, 21:47"
    with translation.override("nl"):
        assert formats.date_format(moment, "DATETIME_FORMAT") == "1 december 2026, 21:47"
        assert formats.number_format(1234.5, 1, force_grouping=True) == "1.234,5"


@pytest.mark.django_db
def test_a_user_without_a_choice_gets_e_mails_in_the_installation_language() -> None:
    user: User = UserFactory(email="mail@example.test")
    assert user.preferred_language() == "en"
    user.browser_language = "xx"  # a browser language we no longer offer
    assert user.preferred_language() == "en"


def test_a_recurrence_suggestion_names_the_repetition_in_the_readers_language() -> None:
    """The weekly rule a daily series can become is part of the sentence, not English inside a
    Dutch one (recurrence._core._describe renders recurrence.describe)."""
    tr = from_rrule(
        ["RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=15"], datetime(2026, 1, 5, 9, tzinfo=AMS)
    )
    (suggestion,) = tr.suggestions
    with translation.override("en"):
        english = suggestion.message.render(translation.gettext)
    with translation.override("nl"):
        dutch = suggestion.message.render(translation.gettext)
    assert "Every week on Monday, Tuesday, Wednesday, Thursday, Friday" in english
    assert "Elke week op maandag, dinsdag, woensdag, donderdag, vrijdag" in dutch
    assert "Every" not in dutch and "Monday" not in dutch
