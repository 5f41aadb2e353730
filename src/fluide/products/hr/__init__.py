"""HR: employees of a tenant."""
