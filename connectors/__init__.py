"""Provider connectors (Google, Microsoft, CalDAV) behind one protocol: see ARCHITECTURE.md.
Empty until the connectors issue lands."""
