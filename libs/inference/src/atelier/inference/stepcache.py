"""Step caching: skip work on denoising steps whose result barely differs from the last
one's, trading a little fidelity for speed. Off unless the STEP_CACHE setting asks.

- `first_block` (transformers such as Wan's): diffusers' First Block Cache. Each step runs
  the first transformer block; when its output changed less than `threshold` (relative)
  since the last fully computed step, the other blocks' residual is reused.
- `deep` (UNets such as SDXL's): DeepCache (Ma et al., 2023). Every `interval`-th step runs
  the whole UNet and keeps the features its deep levels hand to the outermost up block;
  the steps in between run only the outermost down and up blocks on those features.

diffusers' own caches (First Block Cache, FasterCache, ...) hook transformers only (models
with `CacheMixin`), and FasterCache expects the conditional and unconditional passes in one
batch, which Wan does not do: hence `deep` for the UNet and `first_block` for Wan.

torch and diffusers are imported inside the functions only.
"""

from __future__ import annotations

from typing import Any

STEP_CACHES = ("none", "first_block", "deep")


class UnsupportedStepCache(Exception):
    """The model has nothing this step cache can hook."""


class DeepCache:
    """DeepCache on a diffusers `UNet2DConditionModel`, reset before every pipeline call.

    On a cached step the inner down blocks, the mid block and the up blocks but the last two
    return their input unchanged (no compute), the second-to-last up block returns the
    features kept from the last full step, and the outermost up block combines them with the
    fresh skip connections of the outermost down block. A batch whose size changed (a job left
    it) runs a full step first.
    """

    def __init__(self, unet: Any, interval: int = 3) -> None:
        if interval < 2:
            raise ValueError("a step cache interval below 2 caches nothing")
        if len(unet.down_blocks) < 2 or len(unet.up_blocks) < 2 or unet.mid_block is None:
            raise UnsupportedStepCache("DeepCache needs a UNet with two levels or more")
        self.interval = interval
        self.calls = 0
        self.full = True
        self.cached: Any = None
        self._hook: Any = None
        self._replaced: list[Any] = []
        for block in unet.down_blocks[1:]:
            self._replace(block, self._skipped_down(block))
        self._replace(unet.mid_block, self._skipped(unet.mid_block))
        for block in unet.up_blocks[:-2]:
            self._replace(block, self._skipped(block))
        self._replace(unet.up_blocks[-2], self._kept(unet.up_blocks[-2]))
        self.attach(unet)

    def remove(self) -> None:
        """Put the UNet back as it was."""
        for block in self._replaced:
            del block.forward  # the instance attribute: the class's forward again
        self._replaced.clear()
        if self._hook is not None:
            self._hook.remove()
        self.reset()

    def attach(self, unet: Any) -> None:
        """Decide full or cached before each call of `unet` (the module the pipeline calls:
        after `torch.compile`, its wrapper, so the decision stays out of the graph)."""
        if self._hook is not None:
            self._hook.remove()
        self._hook = unet.register_forward_pre_hook(self._before_call, with_kwargs=True)

    def reset(self) -> None:
        """Forget the kept features: a new generation starts with a full step."""
        self.calls = 0
        self.cached = None

    def _before_call(self, module: Any, args: tuple, kwargs: dict) -> None:
        sample = args[0] if args else kwargs["sample"]
        stale = self.cached is None or self.cached.shape[0] != sample.shape[0]
        if stale:
            self.calls = 0
        self.full = self.calls % self.interval == 0
        self.calls += 1

    def _replace(self, block: Any, forward: Any) -> None:
        block.forward = forward
        self._replaced.append(block)

    def _skipped(self, block: Any):
        original = block.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            if self.full:
                return original(*args, **kwargs)
            return _hidden_states(args, kwargs)

        return forward

    def _skipped_down(self, block: Any):
        original = block.forward
        outputs = len(block.resnets) + (1 if getattr(block, "downsamplers", None) else 0)

        def forward(*args: Any, **kwargs: Any) -> Any:
            if self.full:
                return original(*args, **kwargs)
            hidden = _hidden_states(args, kwargs)
            return hidden, (hidden,) * outputs

        return forward

    def _kept(self, block: Any):
        original = block.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            if self.full:
                self.cached = original(*args, **kwargs)
            return self.cached

        return forward


def _hidden_states(args: tuple, kwargs: dict) -> Any:
    return args[0] if args else kwargs["hidden_states"]


def enable_first_block_cache(transformer: Any, threshold: float) -> None:
    """diffusers' First Block Cache on a transformer with `CacheMixin` (Wan's)."""
    from diffusers import FirstBlockCacheConfig

    if not hasattr(transformer, "enable_cache"):
        raise UnsupportedStepCache(f"{type(transformer).__name__} takes no diffusers cache")
    transformer.enable_cache(FirstBlockCacheConfig(threshold=threshold))


def reset_caches(pipe: Any, deep: DeepCache | None = None) -> None:
    """Start every step cache of `pipe` afresh (before a call, and after a job left its
    batch): diffusers' stateful cache hooks hold tensors shaped by the last batch."""
    for component in getattr(pipe, "components", {}).values():
        reset = getattr(component, "_reset_stateful_cache", None)
        if reset is not None and getattr(component, "is_cache_enabled", False):
            reset()
    if deep is not None:
        deep.reset()
