"""Request handlers for attendance."""
