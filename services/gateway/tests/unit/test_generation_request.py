import uuid

import pytest
from pydantic import ValidationError

from atelier.contracts.generation import ImageRef
from atelier.gateway.config import GatewaySettings
from atelier.gateway.domain.generation_request import GenerationRequest, resolve

settings = GatewaySettings(jwt_secret="x" * 32, sdxl_default_size=1024)


def request(**fields) -> GenerationRequest:
    return GenerationRequest.model_validate({"model": "sdxl", "prompt": "a fox"} | fields)


def test_quality_presets_are_the_seed_platforms():
    fast, high = resolve(request(), settings), resolve(request(quality="high"), settings)
    assert (fast.steps, fast.guidance_scale) == (15, 6.0)
    assert (high.steps, high.guidance_scale) == (25, 7.5)


def test_explicit_values_override_presets_and_defaults():
    spec = resolve(request(steps=30, guidance_scale=0.0, width=512, height=768, seed=0), settings)
    assert (spec.steps, spec.guidance_scale, spec.width, spec.height, spec.seed) == (
        30, 0.0, 512, 768, 0,
    )  # fmt: skip


def test_a_seed_is_chosen_and_recorded_when_none_is_given():
    seeds = {resolve(request(num_images=6), settings).seed for _ in range(20)}
    assert len(seeds) > 1
    assert all(0 <= seed <= 2**32 - 6 for seed in seeds)


def test_video_gets_frames_and_fps_from_the_settings():
    spec = resolve(request(model="wan", mode="video"), settings)
    assert (spec.num_frames, spec.fps, spec.width, spec.height) == (33, 16, 832, 480)


@pytest.mark.parametrize(
    "fields",
    [
        {"num_images": 0},
        {"num_images": 7},
        {"width": 1001},
        {"height": 4096},
        {"prompt": ""},
        {"prompt": "x" * 2001},
        {"model": "dalle"},
        {"unknown": 1},
        {"steps": 500},
    ],
)
def test_the_request_model_refuses_bad_input(fields):
    with pytest.raises(ValidationError):
        request(**fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "video"}, "sdxl makes images only"),
        ({"num_frames": 9}, "video only"),
        ({"model": "wan", "mode": "video", "num_frames": 10}, "4k+1"),
    ],
)
def test_resolution_refuses_combinations_the_models_cannot_do(fields, message):
    with pytest.raises(ValidationError, match=message.replace("+", "\\+")):
        resolve(request(**fields), settings)


USER = "00000000-0000-4000-8000-000000000001"
UPLOAD = ImageRef(bucket="workspace-temp", key=f"{USER}/uploads/{uuid.uuid4()}.png")


@pytest.mark.parametrize(
    ("mode", "quality", "expected"),
    [
        ("modify", "fast", (0.5, 5.5, 20)),
        ("modify", "high", (0.5, 5.5, 30)),
        ("exact_copy", "fast", (0.05, 1.0, 6)),
        ("exact_copy", "high", (0.05, 1.0, 10)),
    ],
)
def test_reference_modes_bring_their_own_presets(mode, quality, expected):
    body = request(quality=quality, reference_image={"upload_id": str(uuid.uuid4()), "mode": mode})
    spec = resolve(body, settings, {"reference_image": UPLOAD})
    assert (spec.reference.strength, spec.guidance_scale, spec.steps) == expected
    assert spec.reference.image == UPLOAD


@pytest.mark.parametrize(
    ("reference", "fields", "message"),
    [
        ({"mode": "exact_copy", "strength": 0.5}, {}, "exact_copy: strength"),
        ({"mode": "modify"}, {"guidance_scale": 9.0}, "modify: guidance_scale"),
        ({"mode": "modify"}, {"steps": 50}, "modify: steps"),
    ],
)
def test_reference_values_outside_the_modes_bounds_are_refused(reference, fields, message):
    body = request(reference_image={"upload_id": str(uuid.uuid4())} | reference, **fields)
    with pytest.raises(ValidationError, match=message):
        resolve(body, settings, {"reference_image": UPLOAD})


def test_an_image_source_names_exactly_one_image():
    with pytest.raises(ValidationError, match="exactly one"):
        request(reference_image={"asset_id": str(uuid.uuid4()), "upload_id": str(uuid.uuid4())})
    with pytest.raises(ValidationError, match="exactly one"):
        request(model="wan", mode="video", start_frame={})


def test_frames_are_for_wan_and_an_end_needs_a_start():
    with pytest.raises(ValidationError, match="start_frame and end_frame are for wan"):
        resolve(request(start_frame={"upload_id": str(uuid.uuid4())}), settings,
                {"start_frame": UPLOAD})  # fmt: skip
    with pytest.raises(ValidationError, match="end_frame needs a start_frame"):
        resolve(
            request(model="wan", mode="video", end_frame={"upload_id": str(uuid.uuid4())}),
            settings,
            {"end_frame": UPLOAD},
        )


@pytest.mark.parametrize(
    ("limits", "beyond", "within"),
    [
        ({"sdxl_max_size": 1024}, {"width": 1536}, {"width": 1024}),
        ({"sdxl_max_size": 1024}, {"height": 1032}, {"height": 1024}),
        ({"wan_max_size": 1280}, {"model": "wan", "width": 1296}, {"width": 1280}),
        ({"max_images_per_job": 4}, {"num_images": 5}, {"num_images": 4}),
        ({"wan_max_frames": 81}, {"model": "wan", "mode": "video", "num_frames": 85},
         {"num_frames": 81}),
    ],
)  # fmt: skip
def test_what_the_gpus_cannot_make_is_refused_as_the_operator_set_it(limits, beyond, within):
    limited = settings.model_copy(update=limits)
    with pytest.raises(ValidationError) as refused:
        resolve(request(**beyond), limited)
    (error,) = refused.value.errors()
    assert error["loc"] == tuple(within)
    assert "on this platform's GPUs" in error["msg"]
    assert resolve(request(**(beyond | within)), limited)
