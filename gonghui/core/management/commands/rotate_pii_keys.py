"""``manage.py rotate_pii_keys``: move personal data to the current key.

Two jobs, both resumable and safe to repeat (docs/SECURITY.md has the whole procedure):

- default: re-encrypt every ciphertext whose key id is not the current key (the first
  of ``PII_KEYS``). Only those rows are read and written, so a run that was killed
  resumes where it stopped and a second run is a no-op.
- ``--rebuild-blind-index``: after ``PII_BLIND_INDEX_KEY`` changed, recompute each blind
  index from the decrypted, already-normalised value. Rows whose index is already right
  are left alone, so this too resumes and repeats safely.

Work goes in batches, one short transaction each, with the rows of the batch locked so
a concurrent edit of the same member waits rather than being overwritten.
"""

from __future__ import annotations

from argparse import ArgumentParser
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, models, transaction
from django.db.models import BinaryField, Count
from django.db.models.functions import Substr

from gonghui.core import audit, pii


@dataclass(frozen=True)
class PiiColumn:
    """An encrypted column, and the blind index computed from the same plaintext."""

    model: str  # app label.Model, read through the app registry: core imports no domain
    ciphertext: str
    blind_index: str = ""
    domain: str = ""  # the blind-index domain tag the owning actions use

    def model_class(self) -> type[models.Model]:
        return apps.get_model(self.model)

    def label(self) -> str:
        return f"{self.model}.{self.ciphertext}"


# Every encrypted column in the platform. A test fails when a model grows an ``*_enc``
# binary field that is not listed here, so rotation cannot silently skip one.
PII_COLUMNS = (
    PiiColumn("members.Member", "id_number_enc", "id_number_bidx", "id"),
    PiiColumn("members.Member", "bank_account_enc", "bank_account_bidx", "bank"),
    PiiColumn("members.Application", "id_number_enc", "id_number_bidx", "id"),
    PiiColumn("activity_lottery.Draw", "seed_enc"),  # the secret seed until the draw reveals it
)


def _with_key_id(column: PiiColumn) -> models.QuerySet[Any]:
    """Rows holding a ciphertext, annotated with its key-id byte (``kid``)."""
    manager: models.Manager[Any] = column.model_class()._default_manager
    rows: models.QuerySet[Any] = manager.filter(**{f"{column.ciphertext}__isnull": False})
    annotated: models.QuerySet[Any] = rows.annotate(kid=Substr(column.ciphertext, 2, 1, output_field=BinaryField()))
    return annotated


def stale_rows(column: PiiColumn, current_id: int) -> models.QuerySet[Any]:
    """Rows whose ciphertext is under any key but the current one."""
    return _with_key_id(column).exclude(kid=bytes([current_id]))


def rows_per_key(column: PiiColumn) -> dict[int, int]:
    counts = _with_key_id(column).values("kid").annotate(n=Count("pk")).order_by("kid")
    return {bytes(row["kid"])[0]: row["n"] for row in counts if row["kid"]}


class Command(BaseCommand):
    help = (
        "把个人敏感数据改用当前密钥（PII_KEYS 的第一个）重新加密，或在盲索引密钥更换后重建盲索引。"
        " Re-encrypt personal data under the current PII key, or rebuild blind indexes."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--batch", type=int, default=2000, help="rows per transaction (default 2000)")
        parser.add_argument("--dry-run", action="store_true", help="count what would change, write nothing")
        parser.add_argument(
            "--rebuild-blind-index",
            action="store_true",
            help="recompute blind indexes with the current PII_BLIND_INDEX_KEY instead of re-encrypting",
        )

    def handle(self, *args: Any, batch: int, dry_run: bool, rebuild_blind_index: bool, **options: Any) -> None:
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        try:
            ring = pii.keyring()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if rebuild_blind_index:
            changed = {col.label(): self.rebuild_column(col, batch, dry_run) for col in PII_COLUMNS if col.blind_index}
            action = "pii.rebuild_blind_index"
        else:
            changed = {col.label(): self.rotate_column(col, ring.current_id, batch, dry_run) for col in PII_COLUMNS}
            action = "pii.rotate_keys"
        total = sum(changed.values())
        if dry_run:
            self.stdout.write(f"dry run: {total} value(s) would change; nothing was written.")
            return
        if total:
            audit.record(
                action, actor_label="manage.py rotate_pii_keys", details={"key_id": ring.current_id, "changed": changed}
            )
        self.stdout.write(self.style.SUCCESS(f"done: {total} value(s) changed."))
        if not rebuild_blind_index:
            self.report_keys_in_use(ring.current_id)

    # --- re-encryption -----------------------------------------------------------------

    def rotate_column(self, column: PiiColumn, current_id: int, batch: int, dry_run: bool) -> int:
        label = column.label()
        per_key = rows_per_key(column)
        todo = sum(n for key_id, n in per_key.items() if key_id != current_id)
        summary = ", ".join(f"key {key_id}: {n}" for key_id, n in per_key.items()) or "no rows"
        self.stdout.write(f"{label}: {summary}; {todo} to re-encrypt under key {current_id}")
        if dry_run or not todo:
            return todo
        done, last_pk = 0, None
        while True:
            with transaction.atomic():
                rows = stale_rows(column, current_id).select_for_update().order_by("pk")
                if last_pk is not None:
                    rows = rows.filter(pk__gt=last_pk)
                chunk = list(rows.only("pk", column.ciphertext)[:batch])
                if not chunk:
                    break
                for row in chunk:
                    plaintext = self._decrypt(column, row)
                    setattr(row, column.ciphertext, pii.encrypt(plaintext))
                type(chunk[0])._default_manager.bulk_update(chunk, [column.ciphertext])
            done += len(chunk)
            last_pk = chunk[-1].pk
            self.stdout.write(f"{label}: {done}/{todo} ({done * 100 // todo}%)")
        return done

    def _decrypt(self, column: PiiColumn, row: models.Model) -> str:
        try:
            return pii.decrypt(getattr(row, column.ciphertext))
        except ImproperlyConfigured as exc:
            raise CommandError(f"{column.label()} pk={row.pk}: {exc}. Put the old key back in PII_KEYS.") from exc
        except (InvalidTag, ValueError) as exc:
            raise CommandError(
                f"{column.label()} pk={row.pk} does not decrypt (damaged or under an unknown key); "
                "rows before it are done, fix this one and run again."
            ) from exc

    def report_keys_in_use(self, current_id: int) -> None:
        in_use: set[int] = set()
        for column in PII_COLUMNS:
            in_use.update(rows_per_key(column))
        old = sorted(set(pii.keyring().keys) - in_use - {current_id})
        if in_use <= {current_id}:
            self.stdout.write(f"every value is under key {current_id}.")
        if old:
            keys = ", ".join(str(key_id) for key_id in old)
            self.stdout.write(f"key(s) {keys} no longer encrypt anything and may be removed from PII_KEYS.")

    # --- blind indexes -----------------------------------------------------------------

    def rebuild_column(self, column: PiiColumn, batch: int, dry_run: bool) -> int:
        label = column.label()
        base = _with_key_id(column).order_by("pk")
        total = base.count()
        self.stdout.write(f"{label}: checking the blind index of {total} row(s)")
        seen = changed = 0
        duplicates: list[str] = []
        last_pk = None
        while True:
            with transaction.atomic():
                rows = base.select_for_update()
                if last_pk is not None:
                    rows = rows.filter(pk__gt=last_pk)
                chunk = list(rows.only("pk", column.ciphertext, column.blind_index)[:batch])
                if not chunk:
                    break
                wrong = []
                for row in chunk:
                    fresh = pii.blind_index(self._decrypt(column, row), column.domain)
                    if getattr(row, column.blind_index) != fresh:
                        setattr(row, column.blind_index, fresh)
                        wrong.append(row)
                if wrong and not dry_run:
                    changed += self._write_indexes(column, wrong, duplicates)
                elif dry_run:
                    changed += len(wrong)
            seen += len(chunk)
            last_pk = chunk[-1].pk
            self.stdout.write(f"{label}: {seen}/{total} checked, {changed} rebuilt")
        if duplicates:
            raise CommandError(
                f"{label}: these rows hold the same value as another row (one person twice, "
                "probably registered while the old and new keys were mixed). Merge them and run again:\n"
                + "\n".join(duplicates)
            )
        return changed

    def _write_indexes(self, column: PiiColumn, rows: list[models.Model], duplicates: list[str]) -> int:
        manager = type(rows[0])._default_manager
        try:
            with transaction.atomic():
                manager.bulk_update(rows, [column.blind_index])
            return len(rows)
        except IntegrityError:
            pass
        # A unique index refused the batch: write row by row to name the culprits.
        written = 0
        for row in rows:
            value = getattr(row, column.blind_index)
            try:
                with transaction.atomic():
                    manager.filter(pk=row.pk).update(**{column.blind_index: value})
                written += 1
            except IntegrityError:
                other = manager.filter(**{column.blind_index: value}).exclude(pk=row.pk).values_list("pk", flat=True)
                duplicates.append(f"  pk={row.pk} duplicates pk={', '.join(map(str, other))}")
        return written
