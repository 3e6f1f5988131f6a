"""Events of the membership lifecycle that other modules subscribe to (points pays for them).

Both are sent after the transaction that made the change commits; receivers must be
idempotent (natural keys: ``f"join:{member_id}"``, ``f"verify:{member_id}"``).

- ``member_joined``: an online application was approved (``member_id``, ``org_id``);
- ``member_verified``: a member's real name was verified, by a provider or by a cadre's
  manual review (``member_id``).
"""

from django.dispatch import Signal

member_joined = Signal()
member_verified = Signal()
