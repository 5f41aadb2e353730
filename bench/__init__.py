"""Loopback benchmark of Fluide Connect: ``python -m bench`` (see README, "Benchmarks")."""
