"""Security tests: hostile input, WeChat faults, properties, log hygiene (see SECURITY.md)."""
