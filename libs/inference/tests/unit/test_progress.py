from types import SimpleNamespace

import pytest
import torch

from atelier.inference.batch_steps import BatchSteps
from atelier.inference.progress import (
    GenerationInterrupted,
    StepHooks,
    latent_preview,
    part_hooks,
    run_interruptible,
)


def test_hooks_get_the_pipelines_own_step_count_and_hear_of_their_stop():
    pipe = SimpleNamespace(_num_timesteps=3, _interrupt=False, scheduler=None)
    seen, stops = [], []
    hooks = StepHooks(
        on_step=lambda done, total: seen.append((done, total)),
        should_stop=lambda: len(seen) >= 2,
        on_stop=lambda done, total: stops.append((done, total)),
    )
    callback = BatchSteps([(hooks, 1)], 5, rules={"latents": "rows"})

    assert callback(pipe, 0, 999, {"latents": torch.zeros(1, 1)})["latents"].shape == (1, 1)
    with pytest.raises(GenerationInterrupted) as caught:
        callback(pipe, 1, 500, {"latents": torch.zeros(1, 1)})
    assert seen == [(1, 3), (2, 3)]  # the pipeline's own step count wins over the asked one
    assert stops == [(2, 3)]
    assert pipe._interrupt is True
    assert (caught.value.steps_done, caught.value.total_steps) == (2, 3)


def test_previews_come_every_few_steps_and_at_the_last():
    pipe = SimpleNamespace(_num_timesteps=7, _interrupt=False, scheduler=None)
    previews = []
    hooks = StepHooks(
        on_preview=lambda step, image: previews.append((step, image.size)), preview_every=3
    )
    callback = BatchSteps([(hooks, 2)], 7, rules={"latents": "rows"})
    latents = torch.randn(2, 4, 16, 24)
    for step in range(7):
        callback(pipe, step, 0, {"latents": latents})
    assert [step for step, _ in previews] == [3, 6, 7]
    assert previews[0][1] == (24, 16)  # the first item, at latent size (never upscaled)


def test_a_part_of_a_job_reports_its_stop_as_the_jobs_share_of_steps():
    stops = []
    hooks = StepHooks(on_stop=lambda done, total: stops.append((done, total)))
    # the second half of a 4-image job, stopped after 5 of 10 steps: 7 of its 10 steps
    part_hooks(hooks, 2, 2, 4).on_stop(5, 10)
    assert stops == [(7, 10)]


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
