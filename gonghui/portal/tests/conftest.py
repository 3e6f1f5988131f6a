"""Portal tests use the shared fixtures and browser set-up in gonghui/conftest.py."""
