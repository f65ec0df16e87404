"""The step callback of a pipeline call whose batch holds several jobs' images.

After each denoising step every job in the batch reports its own progress and preview and is
asked whether it should stop. A job that should stop leaves the batch at once: its rows are
taken out of every tensor the pipeline hands its `callback_on_step_end` (latents, prompt
embeddings, ...), out of the scheduler's multistep history and out of the per-image
generators, so the next step computes the others only and their results are what they would
have been (their noise depends on their own seeds alone). When every job has stopped the
call is interrupted as a single job's is.

torch is imported inside the functions only, so importing this module never needs torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from atelier.inference.progress import GenerationInterrupted, StepHooks, latent_preview

#: How a callback tensor's rows relate to the batch's images:
#: "rows": one row per image, or (classifier-free guidance) the unconditional rows of every
#: image then the conditional ones; "leading": rows in groups of images, repeated, so the
#: first k groups are what k images need (SDXL's `add_time_ids`).
RowRule = str


def take_rows(value: Any, keep: Sequence[int], batch: int, rule: RowRule = "rows") -> Any:
    """`value` (a tensor whose first dimension follows the batch by `rule`) with only the
    rows of the images `keep` (indices into a batch of `batch` images); other values as
    they are."""
    import torch

    if not isinstance(value, torch.Tensor) or value.ndim == 0:
        return value
    rows = value.shape[0]
    if rule == "leading":
        if rows % batch:
            raise ValueError(f"{rows} rows do not repeat over a batch of {batch}")
        return value[: len(keep) * (rows // batch)]
    index = list(keep)
    if rows == 2 * batch:
        index += [batch + k for k in keep]
    elif rows != batch:
        raise ValueError(f"{rows} rows do not match a batch of {batch}")
    return value[torch.tensor(index, device=value.device)]


def shrink_scheduler(scheduler: Any, keep: Sequence[int], batch: int) -> None:
    """Take the dropped images out of a multistep scheduler's history (UniPC's and
    DPM-Solver's `model_outputs`, `last_sample`, `sample`); single-step schedulers keep
    nothing per image."""
    import torch

    def shrunk(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == batch:
            return take_rows(value, keep, batch)
        return value

    outputs = getattr(scheduler, "model_outputs", None)
    if isinstance(outputs, list):
        scheduler.model_outputs = [shrunk(output) for output in outputs]
    for name in ("last_sample", "sample"):
        if hasattr(scheduler, name):
            setattr(scheduler, name, shrunk(getattr(scheduler, name)))


class BatchSteps:
    """A diffusers `callback_on_step_end` for one call holding several jobs.

    `members`: each job's hooks and its number of images, in batch order; `rules`: the
    callback tensors to ask the pipeline for and how their rows follow the batch;
    `generators`: the per-image generator list passed to the call (shrunk in place, as the
    scheduler may draw from it); `on_drop()`: called after rows were dropped (stateful step
    caches hold batch-shaped tensors and must start again).
    """

    def __init__(
        self,
        members: Sequence[tuple[StepHooks, int]],
        total_steps: int,
        *,
        rules: Mapping[str, RowRule],
        generators: list[Any] | None = None,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.members = list(members)
        self.total_steps = total_steps
        self.rules = dict(rules)
        self.generators = generators
        self.on_drop = on_drop
        #: Members still in the batch, in batch order.
        self.live = list(range(len(self.members)))
        #: Members that stopped, with the steps they had done.
        self.stopped: dict[int, int] = {}

    @property
    def tensor_inputs(self) -> list[str]:
        return list(self.rules)

    def __call__(self, pipe: Any, step_index: int, timestep: Any, kwargs: dict[str, Any]):
        total = self.total_steps = int(getattr(pipe, "_num_timesteps", 0) or self.total_steps)
        done = step_index + 1
        self._report(done, total, kwargs.get("latents"))
        stopping = [m for m in self.live if self._should_stop(m)]
        if not stopping:
            return kwargs
        for member in stopping:
            self.stopped[member] = done
            on_stop = self.members[member][0].on_stop
            if on_stop is not None:
                on_stop(done, total)
        if len(stopping) == len(self.live):
            pipe._interrupt = True
            raise GenerationInterrupted(done, total)
        return self._drop(pipe, set(stopping), kwargs)

    def _report(self, done: int, total: int, latents: Any) -> None:
        row = 0
        for member in self.live:
            hooks, count = self.members[member]
            if hooks.on_step is not None:
                hooks.on_step(done, total)
            wants_preview = done % hooks.preview_every == 0 or done == total
            if hooks.on_preview is not None and wants_preview and latents is not None:
                hooks.on_preview(done, latent_preview(latents[row : row + 1]))
            row += count

    def _should_stop(self, member: int) -> bool:
        should_stop = self.members[member][0].should_stop
        return should_stop is not None and bool(should_stop())

    def _drop(self, pipe: Any, leaving: set[int], kwargs: dict[str, Any]) -> dict[str, Any]:
        keep: list[int] = []
        row = 0
        for member in self.live:
            count = self.members[member][1]
            if member not in leaving:
                keep += range(row, row + count)
            row += count
        batch = row
        kwargs = {
            name: take_rows(value, keep, batch, self.rules.get(name, "rows"))
            for name, value in kwargs.items()
        }
        shrink_scheduler(pipe.scheduler, keep, batch)
        if isinstance(self.generators, list) and len(self.generators) == batch:
            self.generators[:] = [self.generators[k] for k in keep]
        self.live = [member for member in self.live if member not in leaving]
        if self.on_drop is not None:
            self.on_drop()
        return kwargs

    def results(self, outputs: Sequence[Any]) -> list[list[Any] | GenerationInterrupted]:
        """Each member's outputs (the call's outputs are the live members' rows, in order),
        or the interruption of a member that stopped."""
        results: list[list[Any] | GenerationInterrupted] = []
        row = 0
        for member, (_, count) in enumerate(self.members):
            if member in self.stopped:
                results.append(GenerationInterrupted(self.stopped[member], self.total_steps))
                continue
            results.append(list(outputs[row : row + count]))
            row += count
        if row != len(outputs):
            raise RuntimeError(f"the call returned {len(outputs)} outputs for {row} images")
        return results

    def interrupted(self, error: GenerationInterrupted) -> list[GenerationInterrupted]:
        """Every member's interruption, when the whole call was stopped."""
        return [
            GenerationInterrupted(self.stopped.get(m, error.steps_done), error.total_steps)
            for m in range(len(self.members))
        ]
