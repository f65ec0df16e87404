"""Where a model runs: the device and dtype a GPU service chooses, the CUDA settings it
turns on, and the memory its weights hold.

torch is imported inside the functions only, so importing this module never needs torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_DTYPES = ("float32", "float16", "bfloat16")


def choose_device(setting: str = "auto") -> str:
    """`"auto"` gives `"cuda"` when a CUDA device is usable, else `"cpu"`; anything else
    (`"cpu"`, `"cuda"`, `"cuda:1"`, `"mps"`) is returned as given, after checking CUDA exists."""
    import torch

    setting = setting.strip().lower()
    if setting in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {setting!r} was asked for but CUDA is not available")
    return setting


def choose_dtype(setting: str, device: str) -> torch.dtype:
    """`"auto"`: bfloat16 on CUDA where supported, else float16 on CUDA; float32 elsewhere.
    `"float32"`, `"float16"` and `"bfloat16"` are honoured as given."""
    import torch

    setting = setting.strip().lower()
    if setting in ("", "auto"):
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if setting not in _DTYPES:
        raise ValueError(f"unknown dtype {setting!r}: expected auto or one of {', '.join(_DTYPES)}")
    return getattr(torch, setting)


def placement(device: str = "auto", dtype: str = "auto") -> tuple[str, torch.dtype]:
    """The device and dtype of the DEVICE and DTYPE settings (see `choose_device` and
    `choose_dtype`)."""
    chosen = choose_device(device)
    return chosen, choose_dtype(dtype, chosen)


def allow_tf32(device: str) -> None:
    """On CUDA, let float32 matmuls and convolutions use TF32 tensor cores (as the GPU
    services run); elsewhere nothing."""
    if device.startswith("cuda"):
        import torch

        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def on_device(pipe: Any, device: str) -> Any:
    """A diffusers pipeline moved to `device`, without its progress bar (the services log
    JSON lines, not bars); returns `pipe`."""
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _modules_of(pipeline: Any) -> Iterable[Any]:
    import torch

    if isinstance(pipeline, torch.nn.Module):
        yield pipeline
        return
    components = getattr(pipeline, "components", None)
    if isinstance(components, dict):
        for component in components.values():
            if isinstance(component, torch.nn.Module):
                yield component


def module_memory_bytes(*pipelines: Any) -> int:
    """Bytes held by the parameters and buffers of the `torch.nn.Module` components of one or
    more diffusers pipelines (or bare modules). A tensor shared by several pipelines, as after
    `from_pipe`, or by several components is counted once."""
    seen: set[int] = set()
    total = 0
    for pipeline in pipelines:
        for module in _modules_of(pipeline):
            for tensor in (*module.parameters(), *module.buffers()):
                key = id(tensor)
                if key in seen:
                    continue
                seen.add(key)
                total += tensor.numel() * tensor.element_size()
    return total


def batch_capacity(device: str, per_item_bytes: int, *, cap: int, fallback: int) -> int:
    """How many items needing `per_item_bytes` each fit in the memory `device` has free now
    (after the weights are loaded), keeping a tenth of the device spare, between 1 and
    `cap`; `fallback` where torch cannot tell free memory (the CPU, MPS)."""
    if not device.startswith("cuda"):
        return fallback
    import torch

    free, total = torch.cuda.mem_get_info(torch.device(device))
    usable = free - total // 10
    return max(1, min(cap, usable // max(1, per_item_bytes)))
