"""Events other modules subscribe to (points pays for participation).

``participated`` is sent inside the transaction that records a member's first
participation in an activity, with ``activity_id``, ``member_id``, ``kind`` and ``org_id``
(the organiser). It is a transactional outbox: receivers only write to the database —
typically enqueue a task on the database task backend — so their work commits or rolls
back with the participation; nothing outside the database (an SMS, an HTTP call) belongs
in a receiver, it goes in the task. Receivers must be idempotent: the natural
idempotency key is ``f"activity:{activity_id}:member:{member_id}"``.
"""

from django.dispatch import Signal

participated = Signal()
