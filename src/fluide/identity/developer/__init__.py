"""The developer session (DESIGN §3.3): routes that act on the presented token's credential."""
