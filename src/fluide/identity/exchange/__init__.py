"""The token exchange (DESIGN §3.2): the service (``service``), its limits (``limits``) and
the lane that serves it ahead of FastAPI's layers (``lane``)."""
