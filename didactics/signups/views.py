"""Request handlers for signups."""
