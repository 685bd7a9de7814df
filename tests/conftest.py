"""Shared fixtures. Tests never touch the user's cache: GENCHECK_HOME points into a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Tiny models run fastest on one thread, and CI has two cores shared with validator workers.
    import torch

    torch.set_num_threads(1)
    os.environ["GENCHECK_THREADS"] = "1"  # and the commands the tests run in-process keep to it


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `bf16` need bf16 kernels, which a CPU without AVX512-BF16/AMX lacks: they are skipped there
    with the reason (the logic around bf16 is tested everywhere by faking the detection, not the kernels)."""
    marked = [item for item in items if item.get_closest_marker("bf16")]
    if not marked:
        return
    import torch

    from gencheck.train import bf16_problem

    problem = bf16_problem(torch.device("cpu"))
    for item in marked if problem else []:
        item.add_marker(pytest.mark.skip(reason=f"this CPU trains no RNN in bf16 ({problem[:80]})"))


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("gencheck-home")
    old = os.environ.get("GENCHECK_HOME")
    os.environ["GENCHECK_HOME"] = str(home)
    yield
    if old is None:
        os.environ.pop("GENCHECK_HOME", None)
    else:
        os.environ["GENCHECK_HOME"] = old


@pytest.fixture(scope="session")
def fixture_corpus():
    from gencheck.corpus import build, resolve_spec

    return build(resolve_spec("latex-fixture"))


@pytest.fixture()
def tiny_profile():
    """Smaller than the smoke profile: a few seconds on a CPU."""
    from gencheck.config import PROFILES, with_overrides

    return with_overrides(PROFILES["smoke"], steps=12, eval_every=4, batch_size=4, seq_len=32,
                          num_samples=4, max_chars=120, hidden=32, embed=16, eval_chars=2000)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
