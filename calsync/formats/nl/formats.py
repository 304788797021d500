"""CalSync's date and time formats for Dutch (issue 18 §11), the same names as
``calsync/formats/en/formats.py``: Django translates the month names ("1 december 2026, 21:47");
numbers group with a dot and take a decimal comma, as Dutch writes them."""

DATE_FORMAT = "j F Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j F Y, H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = "j b Y"  # "1 dec 2026": Dutch abbreviates months in lower case
SHORT_DATETIME_FORMAT = "j b Y, H:i"
# Date fields (the meeting form): written as the first, read as any (issue 18 §4); ISO always.
DATE_INPUT_FORMATS = ["%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d"]
FIRST_DAY_OF_WEEK = 1  # maandag
# The names with the weekday of calsync/formats/en ("ma 30 nov", "maandag 30 november", "dinsdag
# 1 december 2026, 09:00"): Dutch writes the abbreviated month in lower case ("b").
DAY_HEADING_FORMAT = "D j b"
WEEKDAY_MONTH_DAY_FORMAT = "l j F"
WEEKDAY_DATE_FORMAT = "l j F Y"
WEEKDAY_DATETIME_FORMAT = "l j F Y, H:i"
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "."
NUMBER_GROUPING = 3
