"""A realistic event log for the platform benchmarks, built from the real contracts.

Many users, interleaved as on a live system, each with what users do: generate (a job is
requested, started, then completed with 1-4 images, or failed), save some assets to the
library (into a collection or not), discard others, move library assets between
collections, favourite and tag them, delete some, clear the workspace, and now and then
delete a collection. Seeded, so two runs get the same sequence of facts.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from atelier.contracts import examples
from atelier.contracts import library_events as lib
from atelier.contracts import workspace_events as ws
from atelier.contracts.assets import AssetSnapshot
from atelier.contracts.envelope import Envelope
from atelier.contracts.generation import (
    GenerationCompleted,
    GenerationFailed,
    GenerationFailedData,
    GenerationStarted,
    GenerationStartedData,
    generated_asset_id,
)

PROMPTS = (
    "a lighthouse at dusk, volumetric fog",
    "portrait of an old fisherman, film grain",
    "isometric city block at night, neon",
    "a bowl of ramen, studio lighting",
    "watercolour fox in a snowy forest",
)


class _User:
    """One user's story, told one event at a time."""

    def __init__(self, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.id = _uuid(rng)
        self.clock = start
        self.collections: list[uuid.UUID] = []
        self.workspace: dict[uuid.UUID, AssetSnapshot] = {}  # unsaved assets
        self.saved: dict[uuid.UUID, tuple[uuid.UUID, AssetSnapshot]] = {}  # ws id -> library id
        self.library: dict[uuid.UUID, uuid.UUID] = {}  # library id -> ws id

    def _at(self) -> datetime:
        self.clock += timedelta(seconds=self.rng.uniform(1, 30))
        return self.clock

    def _event(self, event_type, source: str, data, causation: Envelope | None = None):
        """This user's next event, a little after the one before."""
        return event_type.create(
            source=source, user_id=self.id, causation=causation, occurred_at=self._at(), data=data
        )

    def events(self) -> Iterator[Envelope]:
        while True:
            roll = self.rng.random()
            if roll < 0.05 or (not self.collections and roll < 0.15):
                yield from self._create_collection()
            elif roll < 0.55:
                yield from self._generate()
            elif roll < 0.70 and self.workspace:
                yield from self._save()
            elif roll < 0.78 and self.workspace:
                yield from self._discard()
            elif roll < 0.90 and self.library:
                yield from self._update()
            elif roll < 0.94 and self.library:
                yield from self._delete()
            elif roll < 0.97 and self.saved:
                yield from self._clear()
            elif roll < 0.98 and len(self.collections) > 1:
                yield from self._delete_collection()

    def _generate(self) -> Iterator[Envelope]:
        rng = self.rng
        request = examples.requested(
            self.id,
            _uuid(rng),
            prompt=rng.choice(PROMPTS),
            num_images=rng.randint(1, 4),
            seed=rng.randrange(2**31),
            width=1024,
            height=1024,
            steps=30,
        )
        request = request.model_copy(update={"occurred_at": self._at()})
        yield request
        job = request.data
        data = GenerationStartedData(job_id=job.job_id, model=job.model, worker_id="w1", attempt=1)
        started = self._event(GenerationStarted, "gpu-sdxl", data, causation=request)
        yield started
        if rng.random() < 0.05:
            failed = GenerationFailedData(
                job_id=job.job_id, model=job.model, reason="out of memory", code="internal"
            )
            yield self._event(GenerationFailed, "gpu-sdxl", failed, causation=started)
            return
        completed = examples.completed(causation=request)
        completed = completed.model_copy(update={"occurred_at": self._at()})
        yield completed
        for asset in completed.data.assets:
            self.workspace[generated_asset_id(job.job_id, asset.index)] = _snapshot(
                completed, asset
            )

    def _create_collection(self) -> Iterator[Envelope]:
        collection = _uuid(self.rng)
        self.collections.append(collection)
        name = f"board {collection.hex[:6]}"
        data = lib.CollectionDefinedData(collection_id=collection, name=name)
        yield self._event(lib.CollectionCreated, "library", data)

    def _save(self) -> Iterator[Envelope]:
        asset_id = self.rng.choice(list(self.workspace))
        snapshot = self.workspace.pop(asset_id)
        library_id = _uuid(self.rng)
        collection = self.rng.choice([None, *self.collections])
        tags = self.rng.sample(["sky", "portrait", "night", "food", "animal"], 2)
        data = ws.AssetSavedData(
            asset_id=asset_id,
            library_asset_id=library_id,
            collection_id=collection,
            tags=tags,
            asset=snapshot,
        )
        saved = self._event(ws.AssetSaved, "workspace", data)
        yield saved
        stored = lib.AssetStoredData.of_saved(data, snapshot)
        yield self._event(lib.AssetStored, "library", stored, causation=saved)
        self.saved[asset_id] = (library_id, snapshot)
        self.library[library_id] = asset_id

    def _left(self, cls: type[ws._WorkspaceEvent], asset_id, snapshot, library_id=None):
        left = ws.AssetLeftData(
            asset_id=asset_id,
            storage_key=snapshot.storage_key,
            thumbnail_key=snapshot.thumbnail_key,
            library_asset_id=library_id,
        )
        return self._event(cls, "workspace", left)

    def _discard(self) -> Iterator[Envelope]:
        asset_id = self.rng.choice(list(self.workspace))
        yield self._left(ws.AssetDiscarded, asset_id, self.workspace.pop(asset_id))

    def _clear(self) -> Iterator[Envelope]:
        for asset_id, (library_id, snapshot) in list(self.saved.items()):
            yield self._left(ws.AssetRemoved, asset_id, snapshot, library_id)
            del self.saved[asset_id]

    def _update(self) -> Iterator[Envelope]:
        library_id = self.rng.choice(list(self.library))
        if self.rng.random() < 0.6:  # a move between collections (or out of one)
            data = lib.AssetUpdatedData(
                library_asset_id=library_id,
                changed=["collection_id"],
                collection_id=self.rng.choice([None, *self.collections]),
            )
        else:
            data = lib.AssetUpdatedData(
                library_asset_id=library_id,
                changed=["is_favorite", "tags"],
                is_favorite=True,
                tags=["favourite"],
            )
        yield self._event(lib.AssetUpdated, "library", data)

    def _delete(self) -> Iterator[Envelope]:
        library_id = self.rng.choice(list(self.library))
        asset_id = self.library.pop(library_id)
        entry = self.saved.pop(asset_id, None)
        data = lib.AssetDeletedData(
            library_asset_id=library_id,
            source_workspace_asset_id=asset_id,
            storage_key=f"{self.id}/{library_id}.png",
            thumbnail_key=f"{self.id}/{library_id}.thumb.webp",
        )
        deleted = self._event(lib.AssetDeleted, "library", data)
        yield deleted
        if entry is not None:  # still in the workspace: it counts as unsaved again
            self.workspace[asset_id] = entry[1]
            unsaved = ws.AssetUnsavedData(asset_id=asset_id, library_asset_id=library_id)
            yield self._event(ws.AssetUnsaved, "workspace", unsaved, causation=deleted)

    def _delete_collection(self) -> Iterator[Envelope]:
        collection = self.collections.pop(self.rng.randrange(len(self.collections)))
        data = lib.CollectionRefData(collection_id=collection)
        yield self._event(lib.CollectionDeleted, "library", data)


def realistic_log(total: int, users: int = 1000, seed: int = 7) -> list[Envelope]:
    """`total` events of `users` users, interleaved, each user's in their own order."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    stories = [_User(random.Random(rng.getrandbits(64)), start).events() for _ in range(users)]
    log: list[Envelope] = []
    while len(log) < total:
        log.append(next(rng.choice(stories)))
    return log


def _snapshot(completed: GenerationCompleted, asset) -> AssetSnapshot:
    spec = completed.data.spec
    return AssetSnapshot(
        **asset.model_dump(exclude={"index", "seed"}),
        generation_seed=asset.seed,
        original_prompt=spec.prompt,
        negative_prompt=spec.negative_prompt,
        model_used=spec.model,
        generation_settings=spec.model_dump(mode="json", exclude={"prompt", "negative_prompt"}),
        generated_at=completed.occurred_at,
    )


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)
