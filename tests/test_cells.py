"""`gencheck cells`: per-layer states equal the model's own, features read the probes' scanners, and a
hand-made LSTM whose cell 2 counts braces is found as the brace unit (no other unit can pass for it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gencheck.cells import (abs_pearson, analyse, auc_scores, batch_states, doc_states, features, latex_env_spans,
                            layer_states, line_position)
from gencheck.corpus import SEP, Vocab, encode
from gencheck.model import CharRNN, ModelConfig

TEXTS = ["\\begin{proof}Let $x_{1}$ be {a {b}} c.\n% a {comment\n\\begin{enumerate}\\item {x}\\end{enumerate}\n"
         "\\end{proof}\nso {y {z {w}}} and $a^{2}$ end.\n",
         "plain {one} line\n\\begin{lemma}{{deep}} text\\end{lemma}\n"]


# plain brace groups only: raw `{`/`}` and the scanner's brace depth agree here (an environment's
# `\begin{x}` braces and a comment's are no group to the scanner, which a raw counter cannot know)
BRACES = ["so {y {z {w}}} and $a^{2}$ end.\nplain {one} line {{deep}} x\n", "a {b} c {d {e}} f\n{g}\n"]


def vocab() -> Vocab:
    return Vocab.from_texts(TEXTS + BRACES)


def test_features_follow_the_scanners():
    text = "a{b}\n\\begin{x}$y$\\end{x}%c\nz"
    f = {x.name: x.values for x in features(text, "latex")}
    assert list(f["brace depth"][:4]) == [0, 1, 1, 0]  # after reading `{` inside, after `}` out
    env_open = text.index("}", text.index("\\begin"))
    assert not f["inside environment"][env_open - 1] and f["inside environment"][env_open]
    assert f["inside math ($…$)"][text.index("y")] and not f["inside math ($…$)"][text.index("z")]
    assert f["inside comment"][text.index("c")] and not f["inside comment"][text.index("z")]
    assert list(line_position("ab\ncd")) == [1, 2, 0, 1, 2]
    assert latex_env_spans("\\begin{a}\\begin{b}x\\end{a}y") == [(8, 25, "a"), (17, 25, "b")]  # \end{a} closes both


def test_layer_states_equal_the_models_own_outputs():
    torch.manual_seed(0)
    v = vocab()
    model = CharRNN(ModelConfig(v.size, "lstm", layers=2, hidden=16, embed=8)).eval()
    ids = encode(SEP + TEXTS[0], v)
    layers = [(h[0], c[0]) for h, c in layer_states(model, ids[None])]
    with torch.no_grad():
        out, (h_n, c_n) = model.rnn(model.embed(torch.as_tensor(ids)[None]))
    np.testing.assert_allclose(layers[-1][0], out[0].numpy(), atol=1e-5)
    for li, (h, c) in enumerate(layers):  # every layer's last h and c are the model's final state
        np.testing.assert_allclose(h[-1], h_n[li, 0].numpy(), atol=1e-5)
        np.testing.assert_allclose(c[-1], c_n[li, 0].numpy(), atol=1e-5)
    st = doc_states(model, v, TEXTS[0])
    assert st.values.shape == (len(TEXTS[0]), 2 * 2 * 16) and st.names[16] == "L0.c[0]"
    np.testing.assert_allclose(st.values[:, 48:], layers[1][1][1:], atol=1e-5)
    # batched with a longer document, padded at its end: the same states
    both = batch_states(model, v, [TEXTS[0], TEXTS[0] + " and more text after it"])
    np.testing.assert_allclose(both[0], st.values, atol=1e-5)
    np.testing.assert_allclose(both[1][:len(TEXTS[0])], st.values, atol=1e-5)


def brace_counter(v: Vocab, unit: int = 2, hidden: int = 6) -> CharRNN:
    """A one-layer LSTM whose cell `unit` is the brace depth: input and forget gates held open, the
    candidate +1 on `{` and −1 on `}`, 0 otherwise; the other units are small random noise."""
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(v.size, "lstm", layers=1, hidden=hidden, embed=v.size)).eval()
    idx = v.index()
    with torch.no_grad():
        model.embed.weight.copy_(torch.eye(v.size))
        for name, p in model.rnn.named_parameters():
            p.mul_(0.3)
        w_ih, w_hh = model.rnn.weight_ih_l0, model.rnn.weight_hh_l0
        b = model.rnn.bias_ih_l0
        i_row, f_row, g_row = unit, hidden + unit, 2 * hidden + unit  # gate order i, f, g, o
        for row in (i_row, f_row, g_row):
            w_ih[row].zero_()
            w_hh[row].zero_()
            b[row] = 0.0
            model.rnn.bias_hh_l0[row] = 0.0
        b[i_row] = b[f_row] = 30.0  # sigmoid → 1
        w_ih[g_row, idx["{"]], w_ih[g_row, idx["}"]] = 30.0, -30.0  # tanh → ±1
    return model


def test_a_hand_made_brace_counter_is_found():
    v = vocab()
    model = brace_counter(v)
    st = doc_states(model, v, BRACES[0])
    depth = {f.name: f.values for f in features(BRACES[0], "latex")}["brace depth"]
    np.testing.assert_allclose(st.values[:, 6 + 2], depth, atol=1e-4)  # the construction works
    report = analyse(model, v, "latex", BRACES, BRACES, max_chars=10_000)
    by = {f.feature: f for f in report.features}
    assert by["brace depth"].top[0]["unit"] == "L0.c[2]" and by["brace depth"].top[0]["score"] > 0.99
    assert by["inside braces"].top[0]["unit"] in ("L0.c[2]", "L0.h[2]") and by["inside braces"].top[0]["score"] > 0.99
    assert by["brace depth"].top[1]["score"] < 0.99 or by["brace depth"].top[1]["unit"] == "L0.h[2]"


def test_scores_on_known_columns():
    y = np.array([0, 0, 1, 1, 1], dtype=bool)
    x = np.c_[[0.1, 0.2, 0.9, 0.8, 0.7], [0.9, 0.8, 0.1, 0.2, 0.3], [1, 1, 1, 1, 1]]
    np.testing.assert_allclose(auc_scores(x, y), [1.0, 1.0, 0.5])  # a falling unit counts; a stuck one is 0.5
    np.testing.assert_allclose(abs_pearson(x, y.astype(float))[2], 0.0)


def test_analyse_is_deterministic_and_refuses_other_cells():
    v = vocab()
    model = brace_counter(v)
    a, b = analyse(model, v, "latex", TEXTS, TEXTS, seed=3), analyse(model, v, "latex", TEXTS, TEXTS, seed=3)
    assert [f.top for f in a.features] == [f.top for f in b.features] and a.probe == b.probe
    from gencheck.fsutil import UsageError

    with pytest.raises(UsageError, match="LSTM"):
        analyse(CharRNN(ModelConfig(v.size, "gru", 1, 4, 4)), v, "latex", TEXTS, TEXTS)


def test_cells_command_on_a_trained_run(fixture_corpus, tiny_profile, tmp_path, capsys):
    import json

    from gencheck.cells import CELLS_SCHEMA_VERSION
    from gencheck.cli import main
    from gencheck.train import train

    run = tmp_path / "run"
    train(fixture_corpus, tiny_profile, run, torch.device("cpu"))
    assert main(["cells", str(run), "--json", "--max-chars", "3000", "--offline"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["schema_version"] == CELLS_SCHEMA_VERSION and out["units"] == 2 * 32 and out["chars"] <= 3000
    assert {f["feature"] for f in out["features"]} >= {"environment depth", "brace depth", "position in line"}
    assert out["probe"]["feature"] == "environment depth"
    assert main(["cells", str(run), "--max-chars", "3000", "--offline"]) == 0
    assert "units tracking" in capsys.readouterr().out
    assert main(["cells", str(run), "--split", "train"]) == 2
    assert main(["cells", str(tmp_path)]) == 2  # no checkpoint there


def test_show_marks_the_brace_counter_under_each_character():
    from gencheck.cells import plain_show, unit_activation

    v = vocab()
    text = "so {y {z {w}}} and $a^{2}$ end.\nnext {x}"
    lines = plain_show(text, unit_activation(brace_counter(v), v, text, "L0.c[2]")).split("\n")
    assert lines[0] == text.split("\n")[0] and lines[2] == "next {x}"
    # depth 1 of 3 is '+', depths 2 and 3 '#', outside nothing
    assert lines[1] == "   +++######+" + " " * 9 + "++" and lines[3] == "     ++"
    from gencheck.fsutil import UsageError

    with pytest.raises(UsageError, match="no such unit"):
        unit_activation(brace_counter(v), v, text, "L3.c[0]")


CHROMIUM = next((c for c in ("chromium", "chromium-browser", "google-chrome") if __import__("shutil").which(c)), None)


def chromium_dom(page, tmp_path, fragment: str = "") -> str:
    """The page's DOM after its script ran, as headless Chromium serialises it."""
    import subprocess

    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri() + fragment],
                          capture_output=True, text=True, timeout=60, check=True).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium) for the --html page")
def test_html_page_colours_each_character_by_the_picked_unit(tmp_path):
    import re

    from gencheck.cells import html_page

    v = vocab()
    text = "so {y {z {w}}} end\n</script><b>x</b>"  # a closing script tag in the text must stay text
    page = tmp_path / "page.html"
    page.write_text(html_page(brace_counter(v), v, text, "test <page>", first="L0.h[0]"), encoding="utf-8")

    def dom(fragment: str) -> str:
        return chromium_dom(page, tmp_path, fragment)

    out = dom("#L0.c[2]")
    assert 'data-unit="L0.c[2]"' in out
    spans = re.findall(r'<span style="background-color: ([^"]*);">(.*?)</span>', out.split('id="text"')[1])
    assert "".join(ch for _, ch in spans).replace("&lt;", "<").replace("&gt;", ">") == text.replace("\n", "")
    colour = dict(enumerate(c for c, _ in spans))
    assert colour[text.index("w")] == "rgb(255, 55, 55)"  # depth 3 of 3: the full red
    assert colour[text.index("y")] == "rgb(255, 189, 189)"  # depth 1: 33 of 100, 66 of 200 levels
    assert colour[0] == "rgb(255, 255, 255)"  # outside every brace: white
    assert 'data-unit="L0.h[0]"' in dom("")  # no fragment: the unit the page was written with


#: What an attacker puts in a run folder's name, a document, a unit's name or a note: each tries to close
#: its context and run script that sets the page's title.
HOSTILE_HTML = ["__DATA__", "__TITLE__ __SCRIPT__", "</title><script>document.title='PWNED'</script>",
                "<img src=x onerror=document.title=/PWNED/.source>", "<!--<script>", "</script><!--", "]]>",
                "\u2028\u2029", "\" onmouseover=\"document.title='PWNED'", "&lt;&amp;", "__proto__"]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium) for the --html page")
def test_html_page_keeps_hostile_text_as_text(tmp_path, monkeypatch):
    """Hostile text in the document, the title (a run id), unit names and the notes (feature names hold a
    corpus's environment names): Chromium's DOM keeps the page's own title, every unit is in the picker,
    the picked unit is shown and the document's characters are all there, as text."""
    import html
    import re

    from gencheck import cells

    v = vocab()
    names = [f"L0.h[{i}]" for i in range(6)] + [f"L0.c[{i}]" for i in range(6)]
    hostile_units = names[:]
    for i, h in enumerate(HOSTILE_HTML):
        hostile_units[i] = f"{h}#{i}"
    monkeypatch.setattr(cells, "unit_names", lambda model: hostile_units)
    text = "".join(f"{h} {{x}}\n" for h in HOSTILE_HTML) + "\u2028 end"
    title = " · ".join(HOSTILE_HTML)
    notes = {u: f"inside {h} 0.99" for u, h in zip(hostile_units, HOSTILE_HTML)}
    first = hostile_units[3]
    page = tmp_path / "page.html"
    page.write_text(cells.html_page(brace_counter(v), v, text, title, first=first, notes=notes), encoding="utf-8")

    out = chromium_dom(page, tmp_path)
    assert re.findall(r"<title>(.*?)</title>", out, re.S) == [html.escape("gencheck cells · " + title, quote=False)]
    assert "PWNED" not in out.split("<title>")[0] and "<img" not in out.replace("&lt;img", "")
    body = out.split("</head>", 1)[1]
    assert body.count("<option") == len(hostile_units)  # the picker works: its script ran to the end
    assert re.search(r'<body data-unit="([^"]*)"', out).group(1) == html.escape(first, quote=True)
    pre = out.split('id="text">', 1)[1].split("</pre>", 1)[0]
    shown = "".join(re.findall(r"<span[^>]*>(.*?)</span>", pre, re.S))
    assert html.unescape(shown) == text  # every character, newlines included, as text


def test_page_slots_are_filled_once_and_the_data_is_inert():
    """Without a browser: a title holding a slot's name is not substituted again, and the script data
    has no `<`, `>` or `&` and no raw U+2028/2029, yet parses back to the same value."""
    import html
    import json

    from gencheck.cells import fill_page, page_csp, script_json

    value = {"text": "</script><!--<script>\u2028\u2029&amp; ]]>", "units": ["__DATA__"]}
    blob = script_json(value)
    assert not any(c in blob for c in "<>&\u2028\u2029") and json.loads(blob) == value
    page = fill_page("run __DATA__ __CSP__", blob)
    assert page.count(blob) == 1 and "run __DATA__ __CSP__" in page
    csp = page_csp()
    assert html.escape(csp, quote=True) in page and csp.startswith("default-src 'none';") and "unsafe" not in csp


def _on(values) -> str:
    return "".join("1" if v else "0" for v in values)


def test_which_environment_is_open_and_since_when():
    text = r"\begin{proof}x\begin{itemize}y\end{itemize}z\end{proof}"
    f = {x.name: x.values for x in features(text, "latex", ("proof", "itemize"))}
    inner = slice(text.index("}", text.index(r"\begin{itemize}")), text.index(r"\end{itemize}") + 12)
    assert f["inside itemize"][inner].all() and not f["inside itemize"][text.index("z")]
    assert f["inside proof"][text.index("z")] and not f["inside proof"][-1]
    since = f["chars since \\begin"]
    assert since[text.index("y")] == text.index("y") - text.index("}", text.index(r"\begin{itemize}"))
    assert since[text.index("z")] == text.index("z") - text.index("}")  # back to the proof, counting on


def test_c_features_follow_the_validators_lexer():
    text = '#define N 3\nint f(void) { /* c */ char *s = "x{"; return a[1]; }\n'
    f = {x.name: x.values for x in features(text, "c")}
    assert _on(f["inside preprocessor line"][:12]) == "111111111110"
    assert f["inside /* comment */"][text.index("c */")] and not f["inside /* comment */"][text.index("char")]
    assert f["inside string or char"][text.index("x{")] and not f["inside string or char"][text.index("return")]
    assert f["{ depth"][text.index("char")] == 1 and f["{ depth"][text.index('x{') + 1] == 1  # a { in a string is no bracket
    assert f["[ depth"][text.index("1]")] == 1 and f["( depth"][text.index("void")] == 1
    assert f["chars since an open bracket"][text.index("1]")] == 1


def test_markdown_features_fences_links_lists():
    text = "- a\n  - b [x](y)\n\n```\ncode\n```\n"
    f = {x.name: x.values for x in features(text, "markdown")}
    assert f["list depth"][text.index("a")] == 1 and f["list depth"][text.index("b")] == 2
    assert f["inside link"][text.index("x")] and not f["inside link"][text.index("b")]
    assert f["inside code fence"][text.index("code")] and not f["inside code fence"][text.index("a")]


def test_gate_saturation_finds_the_held_open_gates():
    """The brace counter's unit holds its input and forget gates open (bias +30): right-saturated at every
    character, and the only unit of its layer that is."""
    from gencheck.cells import gate_saturation

    v = vocab()
    sat = {(r["layer"], r["gate"]): r for r in gate_saturation(brace_counter(v), v, BRACES[0])}
    assert set(sat) == {(0, "input"), (0, "forget"), (0, "output")}
    for gate in ("input", "forget"):
        assert sat[(0, gate)]["units_mostly_right"] == 1 and sat[(0, gate)]["units"] == 6
        assert sat[(0, gate)]["right"] >= 1 / 6  # that unit at every character, the others at few or none
    assert sat[(0, "output")]["units_mostly_right"] == 0


def test_cells_finds_a_declaration_files_corpus_where_the_run_recorded_it(tmp_path, capsys):
    """#37: a run on `--corpus their.toml` is read by `cells` from the file it was trained on, not by the
    corpus's name (which no registry knows)."""
    import shutil

    from gencheck.cells import load_run
    from gencheck.cli import main
    from gencheck.corpus import builtin_specs

    fixture = builtin_specs().get("latex-fixture")
    mine = tmp_path / "decl"
    shutil.copytree(fixture.parent / "fixtures" / "latex", mine / "fixtures" / "latex")
    (mine / "their.toml").write_text(fixture.read_text())
    run = tmp_path / "run"
    assert main(["train", "--corpus", str(mine / "their.toml"), "--profile", "smoke", "--steps", "4",
                 "--device", "cpu", "--out", str(run)]) == 0
    ck, _, corpus, _ = load_run(run, offline=True)
    assert corpus.spec.name == ck.corpus_name == "their" and corpus.spec.origin == str(mine / "their.toml")
    capsys.readouterr()
