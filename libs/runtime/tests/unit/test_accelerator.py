import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from atelier.runtime.accelerator import (
    GenerationInterrupted,
    StepHooks,
    build_model_dir,
    choose_device,
    choose_dtype,
    latent_preview,
    module_memory_bytes,
    run_interruptible,
)


def test_importing_does_not_import_torch():
    code = "import sys, atelier.runtime.accelerator; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_choose_device():
    assert choose_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert choose_device() == choose_device("auto")
    assert choose_device("CPU") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            choose_device("cuda")


def test_choose_dtype(monkeypatch):
    assert choose_dtype("auto", "cpu") is torch.float32
    assert choose_dtype("bfloat16", "cpu") is torch.bfloat16
    assert choose_dtype("float16", "cuda") is torch.float16
    assert choose_dtype("float32", "cuda") is torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert choose_dtype("auto", "cuda") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert choose_dtype("auto", "cuda:0") is torch.float16
    with pytest.raises(ValueError, match="unknown dtype"):
        choose_dtype("int8", "cpu")


def test_module_memory_bytes_counts_parameters_and_buffers_once():
    linear = torch.nn.Linear(10, 10)  # 110 float32 parameters
    norm = torch.nn.BatchNorm1d(4).to(torch.float16)  # 8 parameters, 9 buffers (one int64)
    pipe = SimpleNamespace(components={"a": linear, "b": norm, "again": linear, "tok": object()})
    expected = 110 * 4 + 8 * 2 + 8 * 2 + 8
    assert module_memory_bytes(pipe) == expected
    # a second pipeline sharing the same modules (diffusers' from_pipe) adds nothing
    assert module_memory_bytes(pipe, SimpleNamespace(components={"x": linear})) == expected
    assert module_memory_bytes(linear) == 440


def test_step_hooks_report_steps_and_interrupt():
    pipe = SimpleNamespace(_num_timesteps=3, _interrupt=False)
    seen = []
    hooks = StepHooks(
        on_step=lambda done, total: seen.append((done, total)), should_stop=lambda: len(seen) >= 2
    )
    callback = hooks.callback(5)

    assert callback(pipe, 0, 999, {"latents": 1}) == {"latents": 1}
    with pytest.raises(GenerationInterrupted) as caught:
        callback(pipe, 1, 500, {"latents": 1})
    assert seen == [(1, 3), (2, 3)]  # the pipeline's own step count wins over the asked one
    assert pipe._interrupt is True
    assert (caught.value.steps_done, caught.value.total_steps) == (2, 3)


def test_previews_come_every_few_steps_and_at_the_last():
    pipe = SimpleNamespace(_num_timesteps=7, _interrupt=False)
    previews = []
    callback = StepHooks(
        on_preview=lambda step, image: previews.append((step, image.size)), preview_every=3
    ).callback(7)
    latents = torch.randn(2, 4, 16, 24)
    for step in range(7):
        callback(pipe, step, 0, {"latents": latents})
    assert [step for step, _ in previews] == [3, 6, 7]
    assert previews[0][1] == (24, 16)  # the first item, at latent size (never upscaled)


def test_latent_previews_of_video_latents_use_the_middle_frame():
    image = latent_preview(torch.randn(1, 16, 5, 8, 8))
    assert (image.mode, image.size) == ("RGB", (8, 8))


def test_run_interruptible_frees_hooks_and_turns_the_flag_into_an_exception():
    freed = []
    pipe = SimpleNamespace(
        _interrupt=False, _num_timesteps=4, maybe_free_model_hooks=lambda: freed.append(1)
    )

    assert run_interruptible(pipe, lambda: "images") == "images"

    def interrupted():
        raise GenerationInterrupted(1, 4)

    with pytest.raises(GenerationInterrupted):
        run_interruptible(pipe, interrupted)
    assert freed == [1]

    pipe._interrupt = True
    with pytest.raises(GenerationInterrupted):
        run_interruptible(pipe, lambda: "partial")


def test_build_model_dir_builds_once_and_never_leaves_half_a_model(tmp_path: Path):
    calls = []

    def build(staging: Path) -> None:
        calls.append(staging)
        staging.mkdir()
        (staging / "weights.bin").write_bytes(b"w")
        (staging / "model_index.json").write_text("{}")

    target = tmp_path / "models" / "tiny"
    assert build_model_dir(target, build) == target
    assert build_model_dir(target, build) == target
    assert len(calls) == 1
    assert (target / "weights.bin").read_bytes() == b"w"
    assert not calls[0].exists()

    def crash(staging: Path) -> None:
        staging.mkdir()
        (staging / "half").write_text("x")
        raise OSError("disk full")

    broken = tmp_path / "models" / "broken"
    with pytest.raises(OSError, match="disk full"):
        build_model_dir(broken, crash)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["tiny"]
