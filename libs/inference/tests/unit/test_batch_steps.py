"""The step callback of a call holding several jobs: each job's progress and stop, and the
rows of a job that stopped taken out of the batch's tensors."""

from types import SimpleNamespace

import pytest
import torch

from atelier.inference.batch_steps import BatchSteps, shrink_scheduler, take_rows
from atelier.inference.progress import GenerationInterrupted, StepHooks


def rows(n: int, width: int = 2) -> torch.Tensor:
    """Row i is filled with i."""
    return torch.arange(n, dtype=torch.float32)[:, None].repeat(1, width)


def test_rows_of_one_image_each_and_guidance_halves():
    assert take_rows(rows(4), [0, 2], 4)[:, 0].tolist() == [0, 2]
    # classifier-free guidance: unconditional rows 0-3, conditional rows 4-7
    assert take_rows(rows(8), [0, 2], 4)[:, 0].tolist() == [0, 2, 4, 6]
    # SDXL's time ids repeat (unconditional, conditional) per image: the first k pairs
    assert take_rows(rows(8), [1, 3], 4, "leading")[:, 0].tolist() == [0, 1, 2, 3]
    assert take_rows(None, [0], 2) is None
    with pytest.raises(ValueError, match="do not match"):
        take_rows(rows(3), [0], 2)


def test_a_multistep_schedulers_history_loses_the_same_rows():
    scheduler = SimpleNamespace(
        model_outputs=[None, rows(3)], last_sample=rows(3), sigmas=torch.ones(3)
    )
    shrink_scheduler(scheduler, [0, 2], 3)
    assert scheduler.model_outputs[0] is None
    assert scheduler.model_outputs[1][:, 0].tolist() == [0, 2]
    assert scheduler.last_sample[:, 0].tolist() == [0, 2]
    assert scheduler.sigmas.shape == (3,)  # not per image: untouched


def test_a_job_that_stops_leaves_the_batch_and_the_others_go_on():
    seen: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    cancel_b = []

    def hooks(name: str, **options) -> StepHooks:
        return StepHooks(on_step=lambda done, total: seen[name].append(done), **options)

    generators = [torch.Generator().manual_seed(i) for i in range(5)]
    steps = BatchSteps(
        [(hooks("a"), 2), (hooks("b", should_stop=lambda: bool(cancel_b)), 1), (hooks("c"), 2)],
        4,
        rules={"latents": "rows", "prompt_embeds": "rows", "add_time_ids": "leading"},
        generators=generators,
    )
    pipe = SimpleNamespace(_num_timesteps=4, _interrupt=False, scheduler=SimpleNamespace())
    kwargs = {"latents": rows(5), "prompt_embeds": rows(10), "add_time_ids": rows(10)}
    kwargs = steps(pipe, 0, 999, kwargs)
    assert kwargs["latents"].shape[0] == 5
    cancel_b.append(True)
    kwargs = steps(pipe, 1, 500, kwargs)
    assert kwargs["latents"][:, 0].tolist() == [0, 1, 3, 4]
    assert kwargs["prompt_embeds"][:, 0].tolist() == [0, 1, 3, 4, 5, 6, 8, 9]
    assert kwargs["add_time_ids"].shape[0] == 8
    assert [g.initial_seed() for g in generators] == [0, 1, 3, 4]
    steps(pipe, 2, 100, kwargs)
    assert seen == {"a": [1, 2, 3], "b": [1, 2], "c": [1, 2, 3]}
    results = steps.results(["a0", "a1", "c0", "c1"])
    assert results[0] == ["a0", "a1"]
    assert results[2] == ["c0", "c1"]
    assert isinstance(results[1], GenerationInterrupted)
    assert results[1].steps_done == 2
    assert pipe._interrupt is False


def test_when_every_job_stopped_the_call_is_interrupted():
    steps = BatchSteps(
        [(StepHooks(should_stop=lambda: True), 1), (StepHooks(should_stop=lambda: True), 1)],
        3,
        rules={"latents": "rows"},
    )
    pipe = SimpleNamespace(_num_timesteps=3, _interrupt=False, scheduler=None)
    with pytest.raises(GenerationInterrupted) as caught:
        steps(pipe, 0, 999, {"latents": rows(2)})
    assert pipe._interrupt is True
    assert [r.steps_done for r in steps.interrupted(caught.value)] == [1, 1]


def test_each_job_previews_its_own_first_image():
    previews: dict[str, int] = {}
    latents = torch.zeros(3, 4, 8, 8)
    latents[2] = 1.0

    def preview(name: str) -> StepHooks:
        return StepHooks(on_preview=lambda step, image: previews.setdefault(name, step))

    steps = BatchSteps([(preview("a"), 2), (preview("b"), 1)], 1, rules={"latents": "rows"})
    steps(SimpleNamespace(_num_timesteps=1, scheduler=None), 0, 1, {"latents": latents})
    assert previews == {"a": 1, "b": 1}
