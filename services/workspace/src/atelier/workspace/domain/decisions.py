"""The life of a workspace asset, as decisions on its last event (pure).

    (made) ──save──▶ saved ──(library copy deleted)──▶ (made again)
      │                │
      ├──discard──▶ gone          saved ──discard──▶ refused: it is in the library
      ├──clear────▶ saved, then gone
      └──expire───▶ gone

Save and discard exclude each other: whichever is appended first wins, the other is
refused with a conflict, so a racing pair never both succeed.
"""

from __future__ import annotations

import uuid
from enum import Enum

from atelier.contracts import workspace as api
from atelier.contracts import workspace_events as events
from atelier.contracts.assets import AssetSnapshot
from atelier.contracts.envelope import Envelope
from atelier.runtime.aggregates import Decision, LastEvent, Refused

SOURCE = "workspace"
_LIBRARY_NAMESPACE = uuid.UUID("9b0e6a3e-52c4-4d0c-8f3c-2f7d5b1e8a61")


class Status(Enum):
    IN_WORKSPACE = "in_workspace"
    SAVED = "saved"
    GONE = "gone"


def library_asset_id(asset_id: uuid.UUID) -> uuid.UUID:
    """Saving one workspace asset always names the same library asset."""
    return uuid.uuid5(_LIBRARY_NAMESPACE, str(asset_id))


def status_after(last: Envelope | None) -> Status:
    match last:
        case events.AssetSaved():
            return Status.SAVED
        case events.AssetDiscarded() | events.AssetRemoved() | events.AssetExpired():
            return Status.GONE
        case events.FilesDeleted():
            return Status.GONE
        case _:
            return Status.IN_WORKSPACE


class AssetDecisions:
    """Decisions about one asset the user owns (`snapshot` is its row, made into data)."""

    def __init__(self, user_id: uuid.UUID, asset_id: uuid.UUID, snapshot: AssetSnapshot) -> None:
        self.user_id = user_id
        self.asset_id = asset_id
        self.snapshot = snapshot

    def save(self, last: LastEvent, options: api.SaveOptions) -> Decision[api.Saved]:
        status = status_after(last.event)
        library_id = library_asset_id(self.asset_id)
        if status is Status.GONE:
            raise Refused(409, "Conflict", "the asset has left the workspace")
        if status is Status.SAVED:
            return Decision([], api.Saved(library_asset_id=library_id))
        return Decision([self._saved(options)], api.Saved(library_asset_id=library_id))

    def discard(self, last: LastEvent) -> Decision[api.Discarded]:
        status = status_after(last.event)
        if status is Status.GONE:
            raise Refused(409, "Conflict", "the asset has left the workspace already")
        if status is Status.SAVED:
            raise Refused(
                409,
                "Conflict",
                "the asset was saved to the library; delete it there, or clear the workspace",
            )
        return Decision([self._left(events.AssetDiscarded)], api.Discarded(asset_id=self.asset_id))

    def clear(self, last: LastEvent) -> Decision[api.Cleared]:
        """Save it if it is not in the library yet, then let it leave: nothing is lost."""
        status = status_after(last.event)
        if status is Status.GONE:
            return Decision([], api.Cleared(saved=0, removed=0))
        saving = [self._saved(api.SaveOptions())] if status is Status.IN_WORKSPACE else []
        removed = self._left(events.AssetRemoved, library_asset_id(self.asset_id))
        return Decision([*saving, removed], api.Cleared(saved=len(saving), removed=1))

    def expire(self, last: LastEvent) -> Decision[bool]:
        status = status_after(last.event)
        if status is Status.GONE:
            return Decision([], False)
        saved_as = library_asset_id(self.asset_id) if status is Status.SAVED else None
        return Decision([self._left(events.AssetExpired, saved_as)], True)

    def _saved(self, options: api.SaveOptions) -> events.AssetSaved:
        return events.AssetSaved.create(
            source=SOURCE,
            user_id=self.user_id,
            data=events.AssetSavedData(
                asset_id=self.asset_id,
                library_asset_id=library_asset_id(self.asset_id),
                collection_id=options.collection_id,
                custom_title=options.custom_title,
                tags=options.tags,
                asset=self.snapshot,
            ),
        )

    def _left(self, event_type, saved_as: uuid.UUID | None = None):
        return event_type.create(
            source=SOURCE,
            user_id=self.user_id,
            data=events.AssetLeftData(
                asset_id=self.asset_id,
                storage_key=self.snapshot.storage_key,
                thumbnail_key=self.snapshot.thumbnail_key,
                library_asset_id=saved_as,
            ),
        )


def unsave(
    user_id: uuid.UUID,
    asset_id: uuid.UUID,
    last: LastEvent,
    library_id: uuid.UUID,
    cause: Envelope,
    cause_sequence: int,
) -> Decision[bool]:
    """Its library copy was deleted (the `cause`, at stream sequence `cause_sequence`):
    the asset counts as not saved again. A deletion older than the asset's last save was
    of an earlier copy (a save names the same library asset every time): nothing to do."""
    saved = last.event
    if not (isinstance(saved, events.AssetSaved) and saved.data.library_asset_id == library_id):
        return Decision([], False)
    if last.sequence > cause_sequence:
        return Decision([], False)
    event = events.AssetUnsaved.create(
        source=SOURCE,
        user_id=user_id,
        causation=cause,
        data=events.AssetUnsavedData(asset_id=asset_id, library_asset_id=library_id),
    )
    return Decision([event], True)
