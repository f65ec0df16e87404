"""What a failed pipeline call means for the process: out of memory (split the batch, try
smaller), a broken device (end the process), or anything else (the job's own failure).

torch is imported inside the functions only, so importing this module never needs torch.
"""

from __future__ import annotations

import gc

#: Exit status of a GPU service whose device broke (see `FatalDeviceError`): the supervisor
#: (Kubernetes, or `atelier.stack.supervisor`) starts it again on a fresh CUDA context.
FATAL_DEVICE_EXIT = 70

#: Text of errors after which a CUDA context is unusable: every later kernel launch in the
#: process fails too (CUDA errors are "sticky"), so retrying in it is pointless.
_FATAL_MARKERS = (
    "CUDA error",
    "device-side assert",
    "illegal memory access",
    "illegal instruction",
    "misaligned address",
    "unspecified launch failure",
    "CUBLAS_STATUS_",
    "CUDNN_STATUS_EXECUTION_FAILED",
    "CUDNN_STATUS_INTERNAL_ERROR",
    "CUDNN_STATUS_MAPPING_ERROR",
)

#: Text of allocation failures on any device (CUDA's caching allocator raises
#: `torch.OutOfMemoryError`; cuBLAS, MPS and the CPU allocator say it in words).
_OOM_MARKERS = (
    "out of memory",
    "CUBLAS_STATUS_ALLOC_FAILED",
    "can't allocate memory",
)


class FatalDeviceError(Exception):
    """The accelerator failed in a way that leaves this process unable to use it. The job is
    not acknowledged (it is redelivered) and the process ends with `FATAL_DEVICE_EXIT`."""


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is an allocation failure: the same call may succeed smaller."""
    import torch

    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(error, RuntimeError) and any(m in str(error) for m in _OOM_MARKERS)


def is_fatal_device_error(error: BaseException) -> bool:
    """Whether `error` leaves the device unusable for this process (an illegal memory access,
    a device-side assert, a failed cuBLAS/cuDNN execution). Out of memory is not fatal."""
    import torch

    if isinstance(error, FatalDeviceError):
        return True
    if is_out_of_memory(error):
        return False
    accelerator_error = getattr(torch, "AcceleratorError", None)
    if accelerator_error is not None and isinstance(error, accelerator_error):
        return True
    return isinstance(error, RuntimeError) and any(m in str(error) for m in _FATAL_MARKERS)


def release_memory(device: str) -> None:
    """Give back what a failed call left allocated, before trying smaller."""
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
