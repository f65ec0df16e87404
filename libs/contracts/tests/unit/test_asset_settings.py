"""`AssetSettings`: the settings that made an asset, derived from what the workspace and
the library keep of it, as far as known, never an error."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from atelier.contracts import examples
from atelier.contracts.assets import AssetSettings, AssetSnapshot
from atelier.contracts.generation import ImageRef, Reference
from atelier.contracts.workspace import WorkspaceAsset

USER = uuid.uuid4()
REFERENCE = Reference(
    image=ImageRef(bucket="user-library", key=f"{USER}/library/x.png"),
    mode="modify",
    strength=0.5,
)


def _snapshot(**spec_fields) -> AssetSnapshot:
    """An asset as the workspace projection records a job's file (`completed`)."""
    spec = examples.spec(**spec_fields)
    return AssetSnapshot(
        asset_type="video" if spec.mode == "video" else "image",
        storage_key=f"{USER}/job/0.png",
        thumbnail_key=f"{USER}/job/0.webp",
        mime_type="image/png",
        file_size_bytes=10,
        width=spec.width,
        height=spec.height,
        generation_seed=spec.seed + 2,  # the job's third image
        original_prompt=spec.prompt,
        negative_prompt=spec.negative_prompt,
        model_used=spec.model,
        generation_settings=spec.model_dump(
            mode="json", exclude={"prompt", "negative_prompt", "model"}
        ),
        generated_at=datetime.now(UTC),
    )


def test_a_generated_image_shows_every_setting_with_its_own_seed():
    snapshot = _snapshot(negative_prompt="blur", reference=REFERENCE, steps=20, guidance_scale=5)
    settings = AssetSettings.of(snapshot)
    assert settings.model_dump() == {
        "prompt": "a lighthouse at dusk",
        "negative_prompt": "blur",
        "model": "sdxl",
        "mode": "image",
        "quality": "fast",
        "width": 64,
        "height": 64,
        "steps": 20,
        "guidance_scale": 5.0,
        "seed": 44,
        "num_frames": None,
        "fps": None,
        "reference": REFERENCE.model_dump(),
    }
    assert AssetSettings.of(snapshot.model_dump(mode="json")) == settings  # a row, a dict


def test_a_video_shows_its_frames_and_fps():
    snapshot = _snapshot(model="wan", mode="video", width=64, height=64, num_frames=9, fps=16)
    settings = AssetSettings.of(snapshot)
    assert (settings.model, settings.mode, settings.num_frames, settings.fps) == (
        "wan", "video", 9, 16,
    )  # fmt: skip
    assert settings.reference is None


def test_what_an_older_or_copied_asset_lacks_is_null():
    row = _snapshot().model_dump(mode="json") | {
        "generation_settings": {"steps": 4, "guidance_scale": 6.0}  # an older event's
    }
    settings = AssetSettings.of(row)
    assert (settings.prompt, settings.model, settings.seed, settings.steps) == (
        "a lighthouse at dusk", "sdxl", 44, 4,
    )  # fmt: skip
    assert settings.quality is settings.width is settings.mode is settings.reference is None
    assert AssetSettings.of({}) == AssetSettings()
    assert AssetSettings.of({"generation_settings": "not a mapping"}) == AssetSettings()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("width", 4096),
        ("width", 65),
        ("steps", "many"),
        ("guidance_scale", float("nan")),
        ("seed", -1),
        ("model", "dalle"),
        ("quality", ["fast"]),
        ("prompt", "a\x00b"),
        ("prompt", "   "),
        ("negative_prompt", "\x1b[31m"),
        ("reference", {"image": {"bucket": "elsewhere", "key": "x"}}),
        (
            "reference",
            {**REFERENCE.model_dump(), "image": {"bucket": "user-library", "key": f"{USER}/../x"}},
        ),
    ],
)
def test_a_value_a_request_would_refuse_is_null_and_the_rest_stays(field, value):
    settings = AssetSettings.model_validate({"steps": 7, field: value})
    assert getattr(settings, field) is None
    if field != "steps":
        assert settings.steps == 7


def test_unknown_keys_are_dropped():
    settings = AssetSettings.model_validate({"seed": 3, "num_images": 2, "owner": "x"})
    assert settings.model_dump(exclude_none=True) == {"seed": 3}


def test_every_asset_view_shows_its_settings():
    snapshot = _snapshot()
    row = snapshot.model_dump() | {
        "id": uuid.uuid4(),
        "job_id": uuid.uuid4(),
        "asset_index": 2,
        "created_at": datetime.now(UTC),
        "expires_at": datetime.now(UTC),
        "library_asset_id": None,
        "file_url": "https://s3/x",
        "thumbnail_url": "https://s3/y",
    }
    view = WorkspaceAsset(**row)
    assert view.settings == AssetSettings.of(snapshot)
    # Over RPC the view arrives with its settings, which are kept as they came.
    assert WorkspaceAsset.model_validate_json(view.model_dump_json()) == view
