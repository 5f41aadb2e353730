"""Fluide Connect: the developer platform in front of the Fluide product APIs."""

__version__ = "0.1.0"
