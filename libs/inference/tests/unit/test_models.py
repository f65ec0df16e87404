from pathlib import Path

import pytest

from atelier.inference.models import build_model_dir


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
