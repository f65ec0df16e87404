import pkgutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

import atelier.inference
from atelier.inference.device import choose_device, choose_dtype, module_memory_bytes

#: Every module of atelier.inference: importing them needs no torch (the provisioning tool
#: reads the worker's consumer configuration without it).
MODULES = sorted(module.name for module in pkgutil.iter_modules(atelier.inference.__path__))


def test_importing_does_not_import_torch():
    modules = ", ".join(f"atelier.inference.{name}" for name in MODULES)
    code = f"import sys, {modules}; assert 'torch' not in sys.modules"
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
