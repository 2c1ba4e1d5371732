"""Request handlers for schedule."""
