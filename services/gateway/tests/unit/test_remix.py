"""A remix: the asset's settings, with only the fields the client sent in their place."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from atelier.contracts.assets import AssetSettings
from atelier.contracts.generation import ImageRef, Reference
from atelier.gateway.config import GatewaySettings
from atelier.gateway.domain.generation_request import GenerationRequest, remix, resolve

settings = GatewaySettings(jwt_secret="x" * 32, sdxl_default_size=1024)
USER = uuid.uuid4()
REFERENCE = Reference(
    image=ImageRef(bucket="user-library", key=f"{USER}/library/x.png"),
    mode="modify",
    strength=0.4,
)
ASSET = AssetSettings(
    prompt="a lighthouse at dusk",
    negative_prompt="fog",
    model="sdxl",
    mode="image",
    quality="fast",
    width=512,
    height=768,
    steps=12,
    guidance_scale=4.5,
    seed=1234,
)


def remixed(asset: AssetSettings = ASSET, **fields):
    body = GenerationRequest.model_validate({"remix_of": {"asset_id": str(uuid.uuid4())}} | fields)
    request, carried = remix(body, asset)
    return resolve(request, settings, carried=carried), request


def test_the_same_settings_make_the_same_job_with_the_assets_own_seed():
    spec, request = remixed()
    assert spec.model_dump(exclude_none=True) == {
        "model": "sdxl",
        "mode": "image",
        "quality": "fast",
        "prompt": "a lighthouse at dusk",
        "negative_prompt": "fog",
        "num_images": 1,
        "seed": 1234,
        "width": 512,
        "height": 768,
        "steps": 12,
        "guidance_scale": 4.5,
    }
    assert request.remix_of is not None


def test_only_the_fields_sent_override_and_a_default_never_does():
    spec, _ = remixed(steps=30, prompt="a lighthouse at dawn", num_images=2)
    assert (spec.steps, spec.prompt, spec.num_images) == (30, "a lighthouse at dawn", 2)
    assert (spec.seed, spec.guidance_scale, spec.width, spec.quality) == (1234, 4.5, 512, "fast")
    # GenerationRequest's default quality is "fast"; the asset's "high" stays unless sent.
    high = ASSET.model_copy(update={"quality": "high"})
    assert remixed(high)[0].quality == "high"
    assert remixed(high, quality="high")[0].steps == 12  # the same quality: its steps stay


def test_a_seed_or_a_null_seed_sent_overrides_the_assets():
    assert remixed(seed=7)[0].seed == 7
    seeds = {remixed(seed=None)[0].seed for _ in range(10)}
    assert len(seeds) > 1, "seed: null asks for a new random seed"


def test_a_new_quality_brings_its_presets_unless_steps_are_sent():
    spec, _ = remixed(quality="high")
    assert (spec.quality, spec.steps, spec.guidance_scale, spec.width) == ("high", 25, 7.5, 512)
    assert remixed(quality="high", steps=40)[0].steps == 40


def test_a_new_model_starts_from_its_own_defaults_keeping_the_prompts_and_seed():
    spec, _ = remixed(model="wan", mode="video")
    assert (spec.model, spec.mode, spec.num_frames, spec.fps) == ("wan", "video", 33, 16)
    assert (spec.width, spec.height, spec.steps) == (832, 480, 20)
    assert (spec.prompt, spec.negative_prompt, spec.seed) == ("a lighthouse at dusk", "fog", 1234)


def test_a_video_remixes_as_a_video():
    video = AssetSettings(
        prompt="waves", model="wan", mode="video", quality="fast", width=64, height=64,
        steps=3, guidance_scale=5.0, seed=9, num_frames=9, fps=16,
    )  # fmt: skip
    spec, _ = remixed(video)
    assert (spec.mode, spec.num_frames, spec.width, spec.seed) == ("video", 9, 64, 9)
    image, _ = remixed(video, mode="image")
    assert (image.mode, image.num_frames, image.fps) == ("image", None, None)


def test_the_reference_is_carried_over_unless_replaced_or_dropped():
    asset = ASSET.model_copy(update={"reference": REFERENCE, "steps": 20, "guidance_scale": 5.0})
    spec, _ = remixed(asset)
    assert (spec.reference, spec.steps, spec.guidance_scale) == (REFERENCE, 20, 5.0)
    high, _ = remixed(asset, quality="high")  # the reference's presets, not plain high's
    assert (high.reference, high.steps, high.guidance_scale) == (REFERENCE, 30, 5.5)
    dropped, _ = remixed(asset, reference_image=None)
    assert (dropped.reference, dropped.steps, dropped.guidance_scale) == (None, 15, 6.0)
    body = {"remix_of": {"asset_id": str(uuid.uuid4())}, "model": "wan"}
    _, carried = remix(GenerationRequest.model_validate(body), asset)
    assert carried is None, "wan takes no reference"


def test_a_merged_request_out_of_bounds_is_refused_as_any_request():
    with pytest.raises(ValidationError, match="modify: steps"):
        remixed(ASSET.model_copy(update={"reference": REFERENCE}), steps=80)
    with pytest.raises(ValidationError, match="seed"):
        remixed(ASSET.model_copy(update={"seed": 2**32 - 1}), num_images=2)
    with pytest.raises(ValidationError) as missing:
        remixed(AssetSettings(seed=5))  # nothing known of the prompt or the model
    assert {error["loc"][-1] for error in missing.value.errors()} == {"model", "prompt"}
    assert remixed(AssetSettings(seed=5), model="sdxl", prompt="new")[0].seed == 5


@pytest.mark.parametrize(
    "remix_of",
    [{}, {"asset_id": str(uuid.uuid4()), "library_asset_id": str(uuid.uuid4())}, {"x": 1}],
)
def test_remix_of_names_exactly_one_asset(remix_of):
    with pytest.raises(ValidationError) as refused:
        GenerationRequest.model_validate({"remix_of": remix_of})
    assert refused.value.errors()[0]["loc"][0] == "remix_of"


def test_without_remix_of_model_and_prompt_are_required():
    with pytest.raises(ValidationError) as refused:
        resolve(GenerationRequest.model_validate({"model": "sdxl"}), settings)
    assert [error["loc"] for error in refused.value.errors()] == [("prompt",)]
