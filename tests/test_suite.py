"""The suite's scores and its learning-rate choice (issue 34, first step): pure functions on hand-made
figures, no training."""

from types import SimpleNamespace

import pytest

from gencheck import suite
from gencheck.fsutil import GencheckError


def _task(name: str = "latex-drill", d_train: int | None = 300) -> suite.Task:
    return suite.Task(name, name, "latex_end", "0" * 64, d_train, suite.DRILL_BUCKETS, dict(suite.DRILL_BUDGET))


def test_normalised_is_zero_at_chance_and_one_when_always_right():
    assert suite.normalised(0.25, 0.25) == 0
    assert suite.normalised(1.0, 0.25) == 1
    assert suite.normalised(0.5, 1.0) is None


def test_the_version_changes_with_a_task_and_not_without_one():
    a = [_task("latex-drill"), _task("c-drill")]
    assert suite.version(a) == suite.version(list(a))
    assert suite.version(a) != suite.version(a[:1])
    assert suite.version(a).startswith(suite.SUITE_NAME + "-")


def test_choose_lr_reads_only_the_validation_figures():
    def result(score, bpc):
        return SimpleNamespace(suite={"validation": {"score": score}}, metrics={"val_bpc": bpc, "test_bpc": 0.0})

    cands = [suite.candidate(result(0.4, 1.0), 1e-3), suite.candidate(result(0.7, 1.2), 3e-3),
             suite.candidate(None, 3e-2), suite.candidate(result(0.7, 1.1), 1e-2)]
    best = suite.choose_lr(cands)
    assert best.lr == 1e-2  # tied score, lower validation bits/char
    assert cands[2].diverged
    with pytest.raises(GencheckError, match="diverged"):
        suite.choose_lr([suite.candidate(None, 1e-3)])


def test_select_refuses_an_unknown_task():
    from gencheck.fsutil import UsageError

    with pytest.raises(UsageError, match="not a task"):
        suite.select([_task()], "latex-drill,nope")
    assert [t.name for t in suite.select([_task(), _task("c-drill")], "c-drill")] == ["c-drill"]


def test_suite_list_names_every_task_with_its_pinned_corpus_and_the_version(capsys):
    import json

    from gencheck.cli import main

    assert main(["suite", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in listed["tasks"]] == list(suite.TASK_CORPORA)
    assert all(len(t["content_hash"]) == 64 for t in listed["tasks"])
    assert listed["version"] == suite.version(suite.tasks())
    assert main(["suite"]) == 2
