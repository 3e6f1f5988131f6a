"""Tables of the vote kind (投票).

Open ballots (``Ballot`` + ``BallotChoice``) name their voter: the constraints below are
the one-ballot / N-a-day / one-vote-per-candidate-a-day guard. A tally is a GROUP BY over
``BallotChoice`` (never a counter row every voter updates: at 400,000 ballots that row's
lock would serialise the whole vote).

Secret ballots never name their voter. The voter's transaction writes the
``Participation`` row (the one-per-member guard) and a ``StagedBallot``: the ballot
encrypted with the platform key, with no member, no timestamp and a random key. The
mixer (``actions.mix_secret_ballots``) decrypts a batch of staged rows in one
transaction, writes them to ``SecretBallot`` in random order and deletes them, so the
published ballots carry the mixer's transaction and order, not the voters'.
"""

from __future__ import annotations

import uuid
from datetime import date

from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.activities.models import HOT_PARENT, Activity
from gonghui.members.models import Member

# The ``day`` of every ballot of a vote without a daily allowance: with ``seq = 1`` the
# unique (activity, member, day, seq) constraint then allows one ballot per member.
ONCE_DAY = date(2000, 1, 1)


class Candidate(models.Model):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="vote_candidates")
    name = models.CharField(_("候选人/选项"), max_length=80)
    photo = models.ImageField(_("照片"), upload_to="activities/candidates/", blank=True)
    text = models.TextField(_("介绍"), blank=True, max_length=2000)
    order = models.PositiveIntegerField(_("顺序"), default=0)

    class Meta:
        verbose_name = _("候选人")
        verbose_name_plural = _("候选人")
        ordering = ["order", "pk"]
        indexes = [models.Index(fields=["activity", "order"], name="vote_candidate_order_idx")]

    def __str__(self) -> str:
        return self.name


class Ballot(models.Model):
    """An open (named) ballot: one per member, or up to the daily allowance each day."""

    id = models.BigAutoField(primary_key=True)
    # Shared by every ballot of a campaign: see ``HOT_PARENT``.
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="+", **HOT_PARENT)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    # Asia/Shanghai date of the ballot (``ONCE_DAY`` when there is no daily allowance).
    day = models.DateField()
    # 1..allowance: the member's n-th ballot that day (checked against the allowance by
    # the action; the unique constraint makes two racing n-th ballots impossible).
    seq = models.PositiveSmallIntegerField()
    # The caller's Idempotency-Key (API): a retried request answers with this ballot.
    request_key = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["activity", "member", "day", "seq"], name="vote_ballot_seq_once"),
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="vote_ballot_seq_positive"),
            models.UniqueConstraint(
                fields=["activity", "member", "request_key"],
                condition=~models.Q(request_key=""),
                name="vote_ballot_request_key_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.activity_id}:{self.member_id}:{self.day}:{self.seq}"


class BallotChoice(models.Model):
    id = models.BigAutoField(primary_key=True)
    # Indexed by the (ballot, candidate) constraint.
    ballot = models.ForeignKey(Ballot, on_delete=models.CASCADE, related_name="choices", db_index=False)
    # A dozen candidates share every choice of a campaign: no database constraint, as
    # ``HOT_PARENT`` (its index stays: the PROTECT check on deleting a candidate reads it).
    candidate = models.ForeignKey(Candidate, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    # Copies of the ballot's columns, so that the database itself refuses a second vote
    # for the same candidate by the same member on the same day.
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="+", **HOT_PARENT)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ballot", "candidate"], name="vote_choice_once_per_ballot"),
            models.UniqueConstraint(
                fields=["activity", "member", "day", "candidate"], name="vote_choice_candidate_once_a_day"
            ),
        ]
        indexes = [models.Index(fields=["activity", "candidate"], name="vote_choice_tally_idx")]

    def __str__(self) -> str:
        return f"{self.ballot_id}:{self.candidate_id}"


class StagedBallot(models.Model):
    """A secret ballot waiting for the mixer. Deliberately nothing but the ciphertext:
    no member, no timestamp, a random key (a serial key would give the voting order)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="+")
    # ``core.pii.encrypt`` of {"c": [candidate ids], "r": receipt}: the key is not in the database.
    payload = models.BinaryField()

    def __str__(self) -> str:
        return str(self.id)


class SecretBallot(models.Model):
    """A mixed secret ballot: published (after close) with its receipt code."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="+")
    receipt = models.CharField(max_length=16)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["activity", "receipt"], name="vote_secret_receipt_once")]

    def __str__(self) -> str:
        return self.receipt


class SecretChoice(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ballot = models.ForeignKey(SecretBallot, on_delete=models.CASCADE, related_name="choices")
    candidate = models.ForeignKey(Candidate, on_delete=models.PROTECT, related_name="+")
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ballot", "candidate"], name="vote_secret_choice_once")]
        indexes = [models.Index(fields=["activity", "candidate"], name="vote_secret_tally_idx")]

    def __str__(self) -> str:
        return f"{self.ballot_id}:{self.candidate_id}"
