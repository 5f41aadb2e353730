"""Developer accounts: sign-up, verification and sessions (``service``), throttled sign-in
(``signin``) and the account routes under ``/api/v1/auth`` (``routes``)."""
