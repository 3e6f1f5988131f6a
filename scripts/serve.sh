#!/usr/bin/env bash
# Serve the web process and one background task worker; stop both together.
set -euo pipefail
"$BIN/python" manage.py db_worker --queue-name default --interval 1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT INT TERM
echo "Gonghui is serving on http://$HOST:$PORT/ (console: http://$HOST:$PORT/console/)"
"$BIN/python" manage.py runserver "$HOST:$PORT" --noreload
