"""CalSync's date and time formats for English (issue 18 §4): one way of writing a moment on
every page, e-mail and script-updated line, in 24-hour time as the practices using CalSync
write it ("1 December 2026, 21:47"), instead of Django's US defaults ("Dec. 1, 2026, 9:47
p.m."). Templates and code name these formats (``|date:"DATETIME_FORMAT"``,
``formats.date_format(value, "SHORT_DATETIME_FORMAT")``), never a pattern of their own, so
another language's module (``calsync/formats/<code>/``) changes them all at once."""

DATE_FORMAT = "j F Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j F Y, H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
# Date fields (the meeting form): written as the first, read as any (issue 18 §4); ISO always.
DATE_INPUT_FORMATS = ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d"]
FIRST_DAY_OF_WEEK = 1  # Monday, as the week view
# With the weekday (CalSync's own names: Django reads any name a format module defines): the week
# view's day headings ("Mon 30 Nov") and their "+" ("Add a meeting on Monday 30 November"), the
# meeting page ("Tuesday 1 December 2026, 09:00"). Every language's module defines them all.
DAY_HEADING_FORMAT = "D j M"
WEEKDAY_MONTH_DAY_FORMAT = "l j F"
WEEKDAY_DATE_FORMAT = "l j F Y"
WEEKDAY_DATETIME_FORMAT = "l j F Y, H:i"
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
