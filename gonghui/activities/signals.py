"""Events other modules subscribe to (points pays for participation).

``participated`` is sent after the transaction that recorded a member's first
participation in an activity commits, with ``activity_id``, ``member_id``, ``kind`` and
``org_id`` (the organiser). Receivers must be idempotent: the natural idempotency key is
``f"activity:{activity_id}:member:{member_id}"``.
"""

from django.dispatch import Signal

participated = Signal()
