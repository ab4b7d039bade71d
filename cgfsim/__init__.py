"""cgfsim."""
