"""The typed library API."""
