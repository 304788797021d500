"""Credits, plans and subscriptions (PRODUCT 28-32; docs/billing.md).

* ``models``: the append-only ``LedgerEntry``, per-tenant ``BillingPlan``, ``Subscription``.
* ``services``: every write (grant, charge, purchase, activate, cancel, renew); keyword-only.
* ``selectors``: reads (balance, the effective plan, subscriptions of a tenant).
* ``entitlement``: ``sync_entitlement(user)``, the one question calsync asks billing.
"""
