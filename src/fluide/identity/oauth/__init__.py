"""Standard OAuth 2.0 for unmodified clients (DESIGN §3.6): the token endpoint (RFC 6749 §4.4),
introspection (RFC 7662), revocation (RFC 7009) and the server's metadata (RFC 8414).

A second wire format of the exchange, not a second implementation: the OAuth client id is the
API key, the client secret is the API secret, and every secret check, limit, lock-out, denial
audit and token goes through ``identity.exchange.service.Exchange``.
"""
