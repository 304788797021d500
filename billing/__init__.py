"""Credits, plans and subscriptions: see ARCHITECTURE.md. Empty until the billing issue lands."""
