"""A corpus declaration somebody hands you can only describe data: every field is typed, names and paths
stay where they belong, gcc flags have an allowed form, and anything else is one line and exit 2."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gencheck.cli import main
from gencheck.corpus import build, load_spec
from gencheck.declaration import DeclarationError
from gencheck.fsutil import GencheckError

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None, reason="no gcc here")
C_DIR = 'format = "c"\n[[sources]]\nkind = "dir"\npath = "src"\n'


def c_corpus(tmp_path, extra: str = ""):
    """A folder corpus of three C files with `extra` appended to its declaration."""
    src = tmp_path / "src"
    (src / "include").mkdir(parents=True)
    for i in range(3):
        (src / f"f{i}.c").write_text(f"int f{i}(void) {{ return {i}; }}\n")
    toml = tmp_path / "their.toml"
    toml.write_text(C_DIR + extra)
    return toml


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    return err[0]


@needs_gcc
def test_a_wrapper_flag_in_a_declaration_runs_nothing(tmp_path, capsys, monkeypatch):
    """The reported exploit: -wrapper makes gcc run a shell. The declaration is refused when loaded."""
    monkeypatch.chdir(tmp_path)
    toml = c_corpus(tmp_path, '[toolchain]\nc_flags = ["-wrapper", "/bin/sh,-c,id > x.txt; exec \\"$0\\" \\"$@\\""]\n')
    code = main(["calibrate", "--corpus", str(toml), "--split", "all", "--toolchain", "--limit", "1", "--mutations", "1"])
    assert code == 2 and not (tmp_path / "x.txt").exists()
    assert "'-wrapper'" in one_error_line(capsys)


@pytest.mark.parametrize("flag", [
    "-wrapper", "/bin/sh,-c,id", "-B/tmp", "-specs=/tmp/x", "-fplugin=/tmp/x.so", "-include", "/etc/passwd",
    "-imacros/etc/passwd", "-Wp,-imacros,/etc/passwd", "-Wl,-rpath", "@flags.txt", "-o/tmp/x", '-DX="a"', "-DX=#x",
    "-iquote/", "-isystem/etc", "-idirafter/etc", "-Xpreprocessor", "--param=x=1", "-D", "-I", "-x", "-save-temps",
    "-I/etc", "-I..", "-Isrc/../..", "-fdump-tree-all",
])
def test_gcc_flags_outside_the_allowed_forms_are_refused_naming_the_flag(tmp_path, flag):
    toml = c_corpus(tmp_path, f"[toolchain]\nc_flags = [{json.dumps(flag)}]\n")
    with pytest.raises(DeclarationError, match=r"c_flags: .*" + "'" + flag.replace("\\", "\\\\")[:2]) as exc:
        load_spec(toml)
    assert "\n" not in str(exc.value)


def test_allowed_gcc_flags_load_and_an_include_folder_becomes_absolute(tmp_path):
    flags = ["-std=gnu11", "-D_GNU_SOURCE", "-DSQLITE_MAX=10", "-DF(a,b)=a+b", "-UNDEBUG", "-Wall", "-Wno-unused",
             "-pedantic", "-Isrc/include", "-Isrc"]
    spec = load_spec(c_corpus(tmp_path, f"[toolchain]\nc_flags = {json.dumps(flags)}\n"))
    assert spec.toolchain.c_flags[:-2] == tuple(flags[:-2])
    assert spec.toolchain.c_flags[-2:] == (f"-I{tmp_path / 'src' / 'include'}", f"-I{tmp_path / 'src'}")


@needs_gcc
def test_the_judge_refuses_a_flag_it_is_handed_without_running_gcc(monkeypatch):
    from gencheck.validators import gcc_judge

    ran = []
    monkeypatch.setattr(gcc_judge, "run_limited", lambda *a, **k: ran.append(a))
    op = gcc_judge.opinion("int x;\n", flags=("-wrapper", "/bin/sh,-c,id"))
    assert (op.ok, op.kind) == (None, "refused") and "-wrapper" in op.message and not ran


@pytest.mark.parametrize("name", ["../../outside/pwned", "/tmp/pwned", "a/b", "..", "x\\y"])
def test_a_declared_name_is_a_plain_name(tmp_path, name):
    toml = c_corpus(tmp_path, "")
    toml.write_text(f"name = {json.dumps(name)}\n" + toml.read_text())
    home = tmp_path / "home"
    with pytest.raises(DeclarationError, match="name .* is not a plain name"):
        build(load_spec(toml), home=home)
    assert not (tmp_path / "outside").exists() and not home.exists()


@pytest.mark.parametrize("source, field", [
    ('kind = "deb"\npackage = "-oDir::Bin::Methods=/tmp"\nversion = "1"\nfile = "a.deb"\nsha256 = "' + "a" * 64 + '"\n',
     "package"),
    ('kind = "deb"\npackage = "p"\nversion = "1 -s"\nfile = "a.deb"\nsha256 = "' + "a" * 64 + '"\n', "version"),
    ('kind = "pypi-sdist"\npackage = "p\\n--index-url http://evil"\nversion = "1"\nfile = "p.tar.gz"\nsha256 = "'
     + "a" * 64 + '"\n', "package"),
    ('kind = "url"\nurl = "https://x/y"\nfile = "y"\nsha256 = "not hex"\n', "sha256"),
])
def test_package_names_versions_and_pins_have_their_registrys_form(tmp_path, source, field):
    toml = tmp_path / "d.toml"
    toml.write_text('format = "c"\n[[sources]]\n' + source)
    with pytest.raises(DeclarationError, match=field):
        load_spec(toml)


@pytest.mark.parametrize("body, field", [
    ('split_seed = "x"\n', "split_seed must be a whole number"),
    ('split_seed = true\n', "split_seed must be a whole number"),
    ('split = "abc"\n', "split must be a list of three numbers"),
    ('split = [0.5, 0.5, nan]\n', "split must be a list of three numbers"),
    ('include = 5\n', "include must be a list of strings"),
    ('[filters]\nmin_chars = "ten"\n', "filters.min_chars must be a whole number"),
    ('[filters]\nmin_english = 2\n', "filters.min_english must be between 0 and 1"),
    ('filters = 3\n', "filters must be a table"),
    ('sources = 3\n', "sources must be"),
    ('[toolchain]\nlatex_preamble = 5\n', "toolchain.latex_preamble must be a string"),
    ('[toolchain]\nlatex_inputs = ["../../etc/passwd"]\n', "latex_inputs"),
    ('[split_members]\nmembers = ["*"]\nchunk_chars = -5\n', "chunk_chars must be at least 0"),
    ('[split_members]\nmembers = ["*"]\nchunk_chars = 10\npath = "{name.__class__}"\n', "only {name} and {member}"),
])
def test_declaration_type_errors_are_one_line_and_exit_2(tmp_path, capsys, body, field):
    toml = c_corpus(tmp_path)
    text = toml.read_text()
    top, tables = (body, "") if not body.startswith("[") else ("", body)
    toml.write_text(top + text + tables) if "sources = 3" not in body else toml.write_text('format = "c"\n' + body)
    assert main(["corpus", "build", str(toml)]) == 2
    assert field in one_error_line(capsys)


def test_a_declaration_that_is_not_utf8_is_one_line(tmp_path, capsys):
    toml = tmp_path / "bad.toml"
    toml.write_bytes(b'format = "c"\ndescription = "\xff\xfe"\n')
    assert main(["corpus", "build", str(toml)]) == 2
    assert "not UTF-8" in one_error_line(capsys)


# --- any value in any field: one clear error, or a corpus ----------------------------------------------------

def toml_value(v) -> str:
    """A TOML inline value for a JSON-like value (hypothesis makes them)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"


VALUES = st.recursive(
    st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats() | st.text(st.characters(blacklist_categories=("Cs",)),
                                                                          max_size=12)
    | st.sampled_from(["*.c", "..", "/", "-wrapper", "-DX", "{name}", "(?P<name>.*)", "latex", "dir", "deb", "a" * 64]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["kind", "path", "members", "x"]),
                                                                 inner, max_size=3),
    max_leaves=8)
TOP = ["name", "format", "description", "license", "include", "exclude", "split", "split_seed", "split_group",
       "content_sha256", "documents", "chars", "filters", "toolchain", "split_members", "sources"]
IN_TABLE = {"filters": ["min_english", "min_ascii", "max_verbatim", "verbatim_envs", "require", "max_comment_lines",
                        "comment_prefix", "min_chars", "max_chars"],
            "toolchain": ["latex_preamble", "c_flags", "latex_inputs"],
            "split_members": ["members", "begin", "end", "resume", "drop", "path", "chunk_chars"],
            "sources": ["kind", "file", "sha256", "package", "version", "url", "verify", "inner", "strip"]}
FIELDS = TOP + [f"{t}.{k}" for t, keys in IN_TABLE.items() for k in keys]


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(FIELDS), value=VALUES)
def test_fuzz_any_value_in_any_declaration_field_is_one_clear_error_or_a_corpus(tmp_path_factory, field, value):
    tmp = tmp_path_factory.mktemp("decl")
    (tmp / "src").mkdir()
    (tmp / "src" / "a.c").write_text("int a;\n")
    table, _, key = field.rpartition(".")
    line = f"{key} = {toml_value(value)}\n"
    if table == "sources":
        body = 'format = "c"\n[[sources]]\nkind = "dir"\npath = "src"\n'.replace(f"{key} = ", "# ") + line
    elif table:
        body = C_DIR + f"[{table}]\n" + line
    else:
        body = line + C_DIR.replace(f"{key} = ", "# ") if key != "sources" else 'format = "c"\n' + line
    (tmp / "d.toml").write_text(body)
    try:
        build(load_spec(tmp / "d.toml"), offline=True, mirrors=[], home=tmp / "home")
    except GencheckError as exc:
        assert str(exc) and "\n" not in str(exc)


def _outside_corpus(tmp_path, source: str, extra: str = ""):
    """A declaration in tmp_path/decl whose second dir source is `source`, and an `outside` folder beside it."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "hostname").write_text("secret-host\n")
    toml = c_corpus(tmp_path / "decl")
    toml.write_text(C_DIR + f'[[sources]]\nkind = "dir"\npath = "{source}"\n' + extra)
    return toml


@pytest.mark.parametrize("source", ["/etc", "../outside", "link"])
def test_a_dir_source_outside_the_declarations_folder_needs_allow_dir(tmp_path, capsys, source):
    toml = _outside_corpus(tmp_path, source, '[toolchain]\nc_flags = ["-I/etc"]\n')
    (tmp_path / "decl" / "link").symlink_to(tmp_path / "outside")  # inside by name, outside after symlinks
    with pytest.raises(DeclarationError, match="outside the declaration's folder.*--allow-dir"):
        load_spec(toml)
    assert main(["corpus", "build", str(toml), "--offline"]) == 2
    line = one_error_line(capsys)
    assert "--allow-dir" in line and "secret-host" not in line


def test_allow_dir_opens_that_folder_and_only_it(tmp_path, capsys):
    toml = _outside_corpus(tmp_path, "../outside")
    outside = tmp_path / "outside"
    spec = load_spec(toml, allow_dirs=[outside])
    assert str(outside.resolve()) in [s.path for s in spec.sources]
    with pytest.raises(DeclarationError, match="--allow-dir"):
        load_spec(toml, allow_dirs=[tmp_path / "decl" / "src"])  # another folder is no permission
    assert main(["corpus", "build", str(toml), "--offline", "--allow-dir", str(outside), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] >= 3

