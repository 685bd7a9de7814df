"""`gencheck probe --model-entry`: anyone's model through the protocol of gencheck/models/entry.py."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gencheck.cli import main
from gencheck.corpus import SEP, UNK, Vocab
from gencheck.fsutil import UsageError
from gencheck.longrange import measure
from gencheck.models import ModelConfig, build_model
from gencheck.models.entry import EntryModel, load_entry
from gencheck.probe_cmd import PROBE_SCHEMA_VERSION

DOCS = Path(__file__).resolve().parents[1] / "docs"


class Wrapped(nn.Module):
    """A gencheck model presented as a stranger's: its own id order (reversed), no unknown character."""

    def __init__(self, inner, vocab: Vocab) -> None:
        super().__init__()
        self.inner, self.perm = inner, torch.arange(vocab.size - 1, -1, -1)
        self.chars = [vocab.chars[i] for i in self.perm.tolist()]

    def forward(self, x, state=None):
        logits, state = self.inner(self.perm[x], state)  # the stranger's id i is gencheck's id perm[i]
        return logits.index_select(-1, self.perm), state


def test_the_entry_model_gives_the_native_models_probes_to_the_bit(fixture_corpus):
    """Wrapping changes ids and columns only: every probe cell equals the native model's."""
    vocab = Vocab.from_texts(fixture_corpus.texts("train"))
    torch.manual_seed(0)
    native = build_model(ModelConfig(vocab.size, "gru", 1, 24, 8)).eval()
    entry = EntryModel(Wrapped(native, vocab)).eval()
    assert entry.vocab.chars == vocab.chars
    ids = torch.tensor([[0, 5, 9, 3, 1]])
    assert torch.equal(entry(ids)[0], native(ids)[0])
    a = measure(fixture_corpus, native, vocab, torch.device("cpu"), seed=0).to_json()
    b = measure(fixture_corpus, entry, entry.vocab, torch.device("cpu"), seed=0).to_json()
    assert a["real"] == b["real"] and a["controlled"] == b["controlled"]
    assert a["context"]["model"]["full_bpc"] == b["context"]["model"]["full_bpc"]


def test_a_model_without_separator_or_unknown_gets_no_mass_there():
    class Letters(nn.Module):
        chars, start = "ab\n", "\n"

        def forward(self, x, state=None):
            return torch.nn.functional.one_hot(x, 3).float(), state  # predicts its input again

    m = EntryModel(Letters())
    assert m.vocab.chars == (SEP, UNK, "\n", "a", "b")
    x = torch.tensor([[0, 1, 3, 4, 2]])  # separator → "\n", unknown → the start character "\n"
    logits, _ = m(x)
    assert torch.isinf(logits[..., :2]).all()
    assert logits[0, :, 2:].argmax(-1).tolist() == [0, 0, 1, 2, 0]  # "\n" "\n" "a" "b" "\n" among (\n, a, b)


def test_wrong_entries_are_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad_models.py").write_text(
        "import torch\n"
        "def nothing():\n    return 3\n"
        "class NoChars(torch.nn.Module):\n    pass\n"
        "def nochars():\n    return NoChars()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec, words in [("bad_models", "package.module:factory"), ("no_such_module:f", "cannot import"),
                        ("bad_models:missing", "no callable missing"), ("bad_models:nothing", "not a torch.nn.Module"),
                        ("bad_models:nochars", "needs `chars`")]:
        with pytest.raises(UsageError, match=words):
            load_entry(spec)
    sys.modules.pop("bad_models", None)


def test_logits_of_the_wrong_width_are_refused():
    class Wide(nn.Module):
        chars = SEP + "ab"

        def forward(self, x, state=None):
            return torch.zeros(*x.shape, 7), state

    with pytest.raises(UsageError, match=r"expected \(B, T, 3\)"):
        EntryModel(Wide())(torch.zeros(1, 2, dtype=torch.long))


@pytest.mark.slow
def test_probe_command_on_the_documented_example(tmp_path, monkeypatch, capsys):
    """The example of docs/models.md, as a user would run it from the folder holding mymodels.py."""
    example = DOCS / "examples" / "mymodels.py"
    assert example.read_text() in (DOCS / "models.md").read_text()  # the page shows the file the test runs
    shutil.copy(example, tmp_path / "mymodels.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    torch.manual_seed(0)
    try:
        assert main(["probe", "--model-entry", "mymodels:tiny", "--corpus", "latex-fixture", "--device", "cpu",
                     "--samples", "3", "--json"]) == 0
    finally:
        sys.modules.pop("mymodels", None)
    assert str(tmp_path) not in sys.path  # importable for the entry's import only
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["schema_version"] == PROBE_SCHEMA_VERSION and report["entry"] == "mymodels:tiny"
    assert report["corpus"]["name"] == "latex-fixture" and report["model"]["params"] > 0
    assert report["probes"]["rows"] == ["model", "20-gram", "5-gram", "majority"]
    head = report["probes"]["real"]["latex_end"]["model"]
    assert sum(c["events"] for c in head["buckets"]) > 0
    assert np.isfinite(report["probes"]["context"]["model"]["full_bpc"])
    assert report["samples"]["count"] == 3
    assert "gencheck probe · mymodels:tiny · latex-fixture" in captured.err and "latex_end" in captured.err


def test_the_working_folder_is_importable_for_the_entry_import_only(tmp_path, monkeypatch):
    """`--model-entry mymodels:f` finds mymodels.py beside the user, and nothing imported afterwards (a
    `ctypes.py`, a `resource.py` there) is looked for in that folder."""
    from gencheck.probe_cmd import _cwd_importable

    (tmp_path / "mymodels_here.py").write_text("VALUE = 7\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        with _cwd_importable():
            import mymodels_here  # noqa: F401
        assert sys.modules["mymodels_here"].VALUE == 7
    finally:
        sys.modules.pop("mymodels_here", None)
    assert str(tmp_path) not in sys.path and "" not in sys.path
