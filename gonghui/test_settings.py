"""Settings for the test suite: the real settings with fixed, test-only keys.

Nothing here is secret: these keys only ever encrypt synthetic test data.
"""

import os

os.environ["GONGHUI_TESTING"] = "true"
os.environ.setdefault("GONGHUI_LOCAL_ENV", "/nonexistent")  # never read a developer's local.env
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault(
    "PII_KEYS",
    "1:dGVzdC1vbmx5LXBpaS1rZXktMzItYnl0ZXMtbG9uZyE,2:b2xkLXRlc3Qta2V5LTMyLWJ5dGVzLWxvbmctb2xkLW8",
)
os.environ.setdefault("PII_BLIND_INDEX_KEY", "test-only-blind-index-key-0123456789abcdef")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
# No persistent database connections in tests. The browser tests' live server is Django's
# development server: one thread per browser connection, and a thread serves its HTTP
# keep-alive connection until the browser closes it (often not before the run ends). With a
# connection age above zero each such thread kept its PostgreSQL connection open while it
# waited, and the run reached max_connections. At zero it closes when each request ends.
os.environ["DB_CONN_MAX_AGE"] = "0"
# Ballots are written by the request's own thread in tests (the test's transaction is not
# visible to the group-commit writer); the group-commit tests switch it on themselves.
os.environ["VOTE_GROUP_COMMIT"] = "false"

from gonghui.settings import *  # noqa: F403
