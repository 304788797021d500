"""Amounts of money as a reader writes them: the currency's code and the number in the active
language's format (``EUR 1,234.50`` in English, ``EUR 1.234,50`` in Dutch)."""

from __future__ import annotations

from decimal import Decimal

from django.utils.formats import number_format

# Stripe's zero-decimal currencies (https://docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)


def format_money(amount: int, currency: str) -> str:
    """``2500, "eur"`` -> ``"EUR 25.00"`` (``"EUR 25,00"`` in Dutch); zero-decimal currencies
    have no cents."""
    if currency.lower() in ZERO_DECIMAL:
        number = number_format(amount, 0, force_grouping=True)
    else:
        number = number_format(Decimal(amount) / 100, 2, force_grouping=True)
    return f"{currency.upper()} {number}"
