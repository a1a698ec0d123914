"""The citizen portal."""
