"""Which failures split a batch (out of memory), which end the process (a broken device)."""

import pytest
import torch

from atelier.inference.faults import FatalDeviceError, is_fatal_device_error, is_out_of_memory


@pytest.mark.parametrize(
    "error",
    [
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        RuntimeError("CUDA error: out of memory"),
        RuntimeError("CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate(handle)"),
        RuntimeError("MPS backend out of memory (MPS allocated: 17.00 GB)"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        ),
        MemoryError(),
    ],
)
def test_allocation_failures_are_out_of_memory_and_not_fatal(error):
    assert is_out_of_memory(error)
    assert not is_fatal_device_error(error)


@pytest.mark.parametrize(
    "error",
    [
        torch.AcceleratorError("CUDA error: an illegal memory access was encountered"),
        RuntimeError("CUDA error: device-side assert triggered"),
        RuntimeError("CUDA error: unspecified launch failure"),
        RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED when calling cublasGemmEx"),
        RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"),
        FatalDeviceError("earlier"),
    ],
)
def test_errors_that_break_the_cuda_context_are_fatal(error):
    assert is_fatal_device_error(error)
    assert not is_out_of_memory(error)


@pytest.mark.parametrize(
    "error",
    [ValueError("bad size"), RuntimeError("expected a tensor of 4 dimensions"), KeyError("x")],
)
def test_other_errors_are_neither(error):
    assert not is_fatal_device_error(error)
    assert not is_out_of_memory(error)
