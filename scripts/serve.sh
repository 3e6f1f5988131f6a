#!/usr/bin/env bash
# Serve the web process and one background task worker; stop both together.
set -euo pipefail
"$BIN/python" manage.py db_worker --queue-name default --interval 1 &
WORKER=$!
# Periodic work, all idempotent: resume broadcasts and imports whose worker died (at start, then every
# two minutes), finalise activities whose end time has passed (draws, tallies; each exactly once),
# and the hourly membership housekeeping (overdue transfers, inactivity review) and points expiry.
( while true; do
    "$BIN/python" manage.py resume_broadcasts >/dev/null || true
    "$BIN/python" manage.py resume_imports >/dev/null || true
    "$BIN/python" manage.py close_due_activities >/dev/null || true
    "$BIN/python" manage.py resume_coupon_issues >/dev/null || true
    "$BIN/python" manage.py mix_secret_ballots >/dev/null || true
    "$BIN/python" manage.py expire_signup_offers >/dev/null || true
    "$BIN/python" manage.py redraw_unclaimed_prizes >/dev/null || true
    sleep 120
  done ) &
RESUME=$!
( while sleep 3600; do
    "$BIN/python" manage.py membership_housekeeping || true
    "$BIN/python" manage.py expire_points || true
    "$BIN/python" manage.py expire_coupons || true
    "$BIN/python" manage.py mall_auto_receive || true
  done ) &
HOUSEKEEPING=$!
trap 'kill $WORKER $RESUME $HOUSEKEEPING 2>/dev/null || true' EXIT INT TERM
echo "Gonghui is serving on http://$HOST:$PORT/ (console: http://$HOST:$PORT/console/)"
"$BIN/python" manage.py runserver "$HOST:$PORT" --noreload
