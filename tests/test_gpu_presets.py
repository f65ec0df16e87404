"""The GPU services warm up the shapes the gateway will send: its quality presets, at the
default sizes both read from the same settings."""

import pytest

from atelier.gateway.config import GatewaySettings
from atelier.gateway.domain.generation_request import PRESETS
from atelier.gpu_sdxl.config import SDXL_PRESETS, SdxlSettings
from atelier.gpu_wan.config import WAN_PRESETS, WanSettings


def test_the_gpu_services_know_the_gateways_presets():
    for model, presets in (("sdxl", SDXL_PRESETS), ("wan", WAN_PRESETS)):
        assert presets == {quality: PRESETS[(model, quality)] for quality in ("fast", "high")}


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"SDXL_DEFAULT_SIZE": "128", "WAN_DEFAULT_WIDTH": "64", "WAN_DEFAULT_HEIGHT": "64",
         "WAN_DEFAULT_FRAMES": "9"},  # the dev stack's tiny models
    ],
)  # fmt: skip
def test_the_warm_up_is_at_the_gateways_default_sizes(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    gateway = GatewaySettings(jwt_secret="x" * 32)
    sdxl = {(s.width, s.height) for s in SdxlSettings().preset_shapes()}
    assert sdxl == {(gateway.sdxl_default_size, gateway.sdxl_default_size)}
    wan = {(s.width, s.height, s.num_frames) for s in WanSettings().preset_shapes()}
    assert wan == {
        (gateway.wan_default_width, gateway.wan_default_height, gateway.wan_default_frames)
    }
