"""Rendering a group of jobs: packed into calls by capacity, split when a call fails (out of
memory, or one job's fault), each job's outcome its own; a broken device ends it all."""

import pytest
import torch
from PIL import Image

from atelier.contracts import examples
from atelier.inference.batch_render import Failed, Rendered, Stopped, halves, plan, render_jobs
from atelier.inference.batch_render import _Part as Part
from atelier.inference.faults import FatalDeviceError
from atelier.inference.jobs import BadRequest, RenderedFile, RenderJob
from atelier.inference.progress import GenerationInterrupted, StepHooks


class FakeRenderer:
    """Records each call's (prompt, first, count); fails as told."""

    model = "sdxl"
    native_volume = 1024 * 1024
    pipeline = None

    def __init__(self, *, oom_above: int | None = None, poison: str | None = None, fatal=False):
        self.calls: list[list[tuple[str, int, int]]] = []
        self.oom_above = oom_above
        self.poison = poison
        self.fatal = fatal
        self.stop: dict[str, int] = {}

    def batch_key(self, spec):
        return "k"

    def render_batch(self, jobs):
        self.calls.append([(job.spec.prompt, job.first, job.image_count) for job in jobs])
        images = sum(job.image_count for job in jobs)
        if self.fatal:
            raise torch.AcceleratorError("CUDA error: an illegal memory access was encountered")
        if self.oom_above is not None and images > self.oom_above:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        if self.poison and any(job.spec.prompt == self.poison for job in jobs):
            raise ValueError("this prompt breaks the text encoder")
        results = []
        for job in jobs:
            if job.spec.prompt in self.stop:
                results.append(GenerationInterrupted(self.stop[job.spec.prompt], 10))
                continue
            results.append(
                [
                    RenderedFile.png(i, Image.new("RGB", (8, 8)), job.spec, job.spec.seed + i)
                    for i in job.indices
                ]
            )
        return results


def job(prompt: str, images: int = 1) -> RenderJob:
    spec = examples.requested(prompt=prompt, num_images=images).data.spec
    return RenderJob(spec=spec, images={}, hooks=StepHooks())


def test_jobs_pack_in_order_and_a_big_one_goes_in_parts():
    assert plan([2, 3, 2], 6) == [
        [Part(0, 0, 2), Part(1, 0, 3)],
        [Part(2, 0, 2)],
    ]
    assert plan([5], 2) == [[Part(0, 0, 2)], [Part(0, 2, 2)], [Part(0, 4, 1)]]


def test_a_failed_call_splits_by_jobs_then_by_images_only_for_memory():
    assert halves([Part(0, 0, 1), Part(1, 0, 1), Part(2, 0, 2)], False) == [
        [Part(0, 0, 1), Part(1, 0, 1)],
        [Part(2, 0, 2)],
    ]
    assert halves([Part(0, 0, 4)], True) == [[Part(0, 0, 2)], [Part(0, 2, 2)]]
    assert halves([Part(0, 0, 4)], False) is None
    assert halves([Part(0, 0, 1)], True) is None


def test_compatible_jobs_share_one_call_and_each_gets_its_own_files():
    renderer = FakeRenderer()
    outcomes = render_jobs(
        renderer, [job("a", 2), job("b", 1), job("c", 3)], capacity=6, device="cpu"
    )
    assert renderer.calls == [[("a", 0, 2), ("b", 0, 1), ("c", 0, 3)]]
    assert [[f.index for f in o.files] for o in outcomes] == [[0, 1], [0], [0, 1, 2]]


def test_out_of_memory_splits_the_batch_until_it_fits():
    renderer = FakeRenderer(oom_above=2)
    outcomes = render_jobs(
        renderer, [job("a", 2), job("b", 1), job("c", 3)], capacity=6, device="cpu"
    )
    assert all(isinstance(o, Rendered) for o in outcomes)
    assert [len(o.files) for o in outcomes] == [2, 1, 3]
    assert [f.seed - outcomes[2].files[0].seed for f in outcomes[2].files] == [0, 1, 2]
    made = [call for call in renderer.calls if sum(n for *_, n in call) <= 2]
    assert sorted(part for call in made for part in call) == [
        ("a", 0, 2), ("b", 0, 1), ("c", 0, 1), ("c", 1, 2),
    ]  # fmt: skip


def test_out_of_memory_at_one_image_fails_that_job_with_a_memory_reason():
    renderer = FakeRenderer(oom_above=0)
    (outcome,) = render_jobs(renderer, [job("a", 2)], capacity=6, device="cpu")
    assert isinstance(outcome, Failed)
    assert outcome.out_of_memory
    assert renderer.calls == [[("a", 0, 2)], [("a", 0, 1)]]  # then gives up: one image fails


def test_a_failure_in_a_shared_call_ends_with_the_job_that_caused_it():
    renderer = FakeRenderer(poison="b")
    outcomes = render_jobs(
        renderer, [job("a"), job("b"), job("c"), job("d")], capacity=6, device="cpu"
    )
    assert isinstance(outcomes[1], Failed)
    assert not outcomes[1].out_of_memory
    assert isinstance(outcomes[1].error, ValueError)
    assert [isinstance(o, Rendered) for o in outcomes] == [True, False, True, True]


def test_a_bad_request_alone_is_not_retried_smaller():
    class Refusing(FakeRenderer):
        def render_batch(self, jobs):
            self.calls.append(len(jobs))
            raise BadRequest("no image-to-video model")

    renderer = Refusing()
    (outcome,) = render_jobs(renderer, [job("a", 3)], capacity=6, device="cpu")
    assert isinstance(outcome.error, BadRequest)
    assert renderer.calls == [1]


def test_a_stopped_job_ends_stopped_at_its_share_of_the_steps():
    renderer = FakeRenderer()
    renderer.stop["b"] = 4
    outcomes = render_jobs(renderer, [job("a"), job("b", 2)], capacity=6, device="cpu")
    assert isinstance(outcomes[0], Rendered)
    assert outcomes[1] == Stopped(4)
    # a job made in parts: stopped at step 4 of its second half is step 7 of 10 overall
    renderer = FakeRenderer()
    calls = []

    def stop_in_second_part(jobs):
        calls.append(jobs[0].first)
        if jobs[0].first == 1:
            return [GenerationInterrupted(4, 10)]
        return FakeRenderer.render_batch(renderer, jobs)

    renderer.render_batch = stop_in_second_part
    (outcome,) = render_jobs(renderer, [job("big", 2)], capacity=1, device="cpu")
    assert outcome == Stopped(7)
    assert calls == [0, 1]


def test_a_broken_device_raises_fatal_and_stops_everything():
    renderer = FakeRenderer(fatal=True)
    with pytest.raises(FatalDeviceError, match="illegal memory access"):
        render_jobs(renderer, [job("a"), job("b")], capacity=6, device="cuda")
    assert len(renderer.calls) == 1, "no retry on a broken context"


def test_parts_report_their_share_of_the_jobs_progress():
    seen = []
    hooks = StepHooks(on_step=lambda done, total: seen.append(done))
    renderer = FakeRenderer()

    def steps(jobs):
        for done in (1, 2):
            jobs[0].hooks.on_step(done, 2)
        return FakeRenderer.render_batch(renderer, jobs)

    renderer.render_batch = steps
    big = RenderJob(spec=job("p", 2).spec, images={}, hooks=hooks)
    render_jobs(renderer, [big], capacity=1, device="cpu")
    assert seen == [0, 1, 1, 2]  # the job's steps, 2 in all, over its two calls
