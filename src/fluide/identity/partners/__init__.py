"""Partner tenancy (DESIGN §3.7): workspaces, client companies, acting for a client."""
