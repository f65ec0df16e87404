"""The GPU service's entry: a broken device ends the process with its own status; the batch
limit and the warm-up shapes follow the device."""

import logging
from types import SimpleNamespace

import pytest

from atelier.inference import service
from atelier.inference.faults import FATAL_DEVICE_EXIT, FatalDeviceError
from atelier.inference.service import WorkerSettings, max_batch_images, warmup_shapes
from atelier.inference.warmup import WarmupShape


class Settings(WorkerSettings):
    model: str = "tiny"

    def preset_shapes(self):
        return [
            WarmupShape(width=1024, height=1024, steps=15, guidance_scale=6.0),
            WarmupShape(width=1024, height=1024, steps=25, guidance_scale=7.5),
        ]


def renderer(device: str = "cpu") -> SimpleNamespace:
    pipeline = SimpleNamespace(
        device=device,
        dtype="torch.float32",
        memory_bytes=1,
        step_cache="none",
        vae_tiling_above=None,
    )
    return SimpleNamespace(model="sdxl", pipeline=pipeline, native_volume=1024 * 1024)


def test_a_broken_device_ends_the_process_with_its_own_status(monkeypatch):
    exits: list[int] = []

    class Exited(Exception):
        pass

    def fake_exit(status: int) -> None:
        exits.append(status)
        raise Exited

    def broken(*args) -> None:
        raise FatalDeviceError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(service, "configure_logging", lambda *args: None)
    monkeypatch.setattr(service, "run_service", broken)
    monkeypatch.setattr(service.os, "_exit", fake_exit)
    monkeypatch.setattr(logging, "shutdown", lambda: None)
    with pytest.raises(Exited):
        service.main("gpu-sdxl", Settings(), renderer)
    assert exits == [FATAL_DEVICE_EXIT]


def test_the_batch_limit_is_the_settings_or_the_devices():
    assert max_batch_images(Settings(max_batch_images=3), renderer()) == 3
    assert max_batch_images(Settings(), renderer("cpu")) == 6


def test_the_warm_up_adds_the_largest_batch_on_cuda_only():
    worker = SimpleNamespace(renderer=renderer("cpu"), capacity_at=lambda pixels: 6)
    assert [s.images for s in warmup_shapes(Settings(), worker)] == [1, 1]
    worker.renderer = renderer("cuda:0")
    assert [s.images for s in warmup_shapes(Settings(), worker)] == [1, 1, 6]
    assert warmup_shapes(Settings(batch_window_ms=0), worker)[-1].images == 1
    assert warmup_shapes(Settings(warmup=[]), worker) == []


def test_warm_up_shapes_read_from_json(monkeypatch):
    monkeypatch.setenv("WARMUP", '[{"width": 64, "height": 64, "steps": 2, "guidance_scale": 5}]')
    (shape,) = Settings().warmup
    assert shape.describe("sdxl") == "sdxl 64x64 2 steps"
