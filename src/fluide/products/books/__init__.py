"""Books: a tenant's double-entry ledger."""
