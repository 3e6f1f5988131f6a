"""Support code for the test suites (imported by tests only, never by the running site)."""
