"""Events other modules subscribe to (points pays for participation).

``participated`` is sent inside the transaction that records a member's first
participation in an activity, with ``activity_id``, ``member_id``, ``kind`` and ``org_id``
(the organiser). It is a transactional outbox: receivers only write to the database —
typically enqueue a task on the database task backend — so their work commits or rolls
back with the participation; nothing outside the database (an SMS, an HTTP call) belongs
in a receiver, it goes in the task. Receivers must be idempotent: the natural
idempotency key is ``f"activity:{activity_id}:member:{member_id}"``.

``participated_many`` is the same event for many members at once, with ``member_ids``
instead of ``member_id``: the vote's group commit records a batch of first ballots in one
statement and announces them in one go (one task row for the batch, not one per member).
A receiver of one subscribes to both.
"""

from django.dispatch import Signal

participated = Signal()
participated_many = Signal()
