"""Fab nodes and their machines: registration, credentials, live status."""
