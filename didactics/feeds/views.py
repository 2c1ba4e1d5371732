"""Request handlers for feeds."""
