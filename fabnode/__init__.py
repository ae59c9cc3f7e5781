"""fabnode."""
