"""Gateway backends."""
