"""Corpus stage: a declaration (corpora/*.toml) becomes documents, splits, a vocabulary and a content hash.

Pipeline: fetch sources → select members by glob → decode and normalise → split declared members into
their parts → filter → dedupe → split by document (seeded) → cache. The identity of a corpus is the hash
of its documents, not of an archive.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import json
import random
import re
import stat
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from . import declaration as decl
from .declaration import DeclarationError
from . import schema
from .fsutil import GencheckError, UsageError, atomic_write_bytes, gencheck_home, read_bytes_capped, sha256_text
from .drill import DrillParams, parse_params
from .registry import Registry
from .sources import (MEMBER_CAP, SOURCE_KINDS, VERIFY_MODES, Source, check_source, fetch, iter_members,
                      mirror_dirs)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS_FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Filters:
    """Declared document filters; each is off at its default."""

    min_english: float = 0.0  # share of words that are common English function words
    min_ascii: float = 0.0  # share of ASCII characters
    max_verbatim: float = 1.0  # share of characters inside `verbatim_envs`
    verbatim_envs: tuple[str, ...] = ()
    require: tuple[str, ...] = ()  # every one of these substrings must occur
    max_comment_lines: float = 1.0  # share of non-blank lines that are comments (start with comment_prefix)
    comment_prefix: str = ""
    min_chars: int = 1
    max_chars: int = 10_000_000


@dataclass(frozen=True)
class SplitMembers:
    """Cut a concatenated member (an amalgamation) back into the files it was made of.

    Patterns are Python regexes matched against a whole line (without its LF); marker lines never reach
    a document. A `begin` line starts a document named by the pattern's group `name` (inside the one
    being read: includes nest); an `end` line returns to the document that was being read before the
    matching begin; a `resume` line continues the document it names; `drop` lines are removed. Text
    outside every begin/end stays a document named after the member itself. Leading `./` and `../` are
    removed from names; a name that begins twice gets `~2`, `~3`.

    Without markers, `chunk_chars` cuts a long member (one book) into documents of at least that many
    characters, each ending at a blank line (which is dropped), named `{member}~0001`, `~0002`, ...
    """

    members: tuple[str, ...] = ()  # globs of the members to split (paths after `strip`)
    begin: str = ""
    end: str = ""
    resume: str = ""
    drop: str = ""
    path: str = "{name}"  # document path; fields {name} and {member}
    chunk_chars: int = 0


@dataclass(frozen=True)
class ToolchainDecl:
    """`[toolchain]`: what the corpus's judge needs (validators/toolchains.py). It shapes no document, so it
    is not in the corpus fingerprint: declaring it never rebuilds a cached corpus."""

    latex_preamble: str = ""  # \documentclass and \usepackage lines for texts without their own preamble
    c_flags: tuple[str, ...] = ()  # gcc flags: -D, -U, -std=, -W, -I inside the corpus (gcc_judge.c_flag_problem)
    latex_inputs: tuple[str, ...] = ()  # corpus documents put beside each compile (the Stacks preamble.tex)


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    format: str
    description: str
    license: str
    sources: tuple[Source, ...]
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    filters: Filters = Filters()
    split: tuple[float, float, float] = (0.9, 0.05, 0.05)
    split_seed: int = 1234
    split_group: str = ""  # regex on document paths; documents whose first group matches share a split
    content_sha256: str = ""  # pinned hash of the built documents; empty = not pinned
    documents: int = 0  # declared size of the pinned build, shown before anything is downloaded
    chars: int = 0
    split_members: SplitMembers | None = None
    origin: str = ""  # the declaration file
    toolchain: ToolchainDecl = ToolchainDecl()
    drill: DrillParams | None = None  # `[drill]`: the corpus is generated from its drill source (gencheck.drill)

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything that shapes the documents changes (cache key)."""
        d = asdict(self)
        d.pop("description"), d.pop("origin"), d.pop("license"), d.pop("toolchain")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Document:
    path: str
    text: str


@dataclass
class BuildStats:
    members: int = 0
    selected: int = 0
    not_utf8: int = 0
    binary: int = 0
    filtered: int = 0
    duplicates: int = 0
    split_parts: int = 0  # documents cut out of members declared in [split_members]


@dataclass
class Corpus:
    spec: CorpusSpec
    documents: list[Document]
    splits: dict[str, list[int]]
    content_hash: str
    stats: BuildStats = field(default_factory=BuildStats)

    def texts(self, split: str) -> list[str]:
        return [self.documents[i].text for i in self.splits[split]]

    def chars(self, split: str | None = None) -> int:
        idx = range(len(self.documents)) if split is None else self.splits[split]
        return sum(len(self.documents[i].text) for i in idx)


# --- declarations ------------------------------------------------------------------------------------

_TOP_KEYS = {"drill", "documents", "chars", "name", "format", "description", "license", "sources", "include", "exclude", "filters",
             "split", "split_seed", "split_group", "content_sha256", "split_members", "toolchain"}
_SOURCE_KEYS = {f for f in Source.__dataclass_fields__}
_FILTER_KEYS = {f for f in Filters.__dataclass_fields__}
_SPLIT_KEYS = {f for f in SplitMembers.__dataclass_fields__}
_TOOLCHAIN_KEYS = {f for f in ToolchainDecl.__dataclass_fields__}


DECLARATION_MAX_BYTES = 1 << 20  # a declaration is a page of TOML; anything larger is not one


def load_spec(path: Path, name: str | None = None, allow_dirs: Sequence[Path] = ()) -> CorpusSpec:
    """Parse a declaration; an unknown, mistyped or unsafe field is one DeclarationError (exit 2) naming the
    file and the field (gencheck/declaration.py says what each field may hold). A `dir` source reads only
    inside the declaration's own folder, or inside a folder the user named in `allow_dirs` (--allow-dir):
    a declaration somebody hands you is data about its own files."""
    path = Path(path)
    try:
        raw_text = read_bytes_capped(path, DECLARATION_MAX_BYTES, "declaration").decode("utf-8")
        data = tomllib.loads(raw_text)
    except UnicodeDecodeError as exc:
        raise DeclarationError(f"{path}: not UTF-8 text (byte {exc.start}): a declaration is a TOML file") from None
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise DeclarationError(f"{path}: {exc or 'nested too deeply'}") from None
    except GencheckError as exc:  # not a regular file, too large, unreadable
        raise DeclarationError(str(exc)) from None

    def bad(key: str, where: str) -> GencheckError:
        import difflib

        line = next((i + 1 for i, ln in enumerate(raw_text.splitlines()) if re.match(rf"\s*{re.escape(key)}\s*=", ln)), "?")
        known = {"": _TOP_KEYS, "sources": _SOURCE_KEYS, "filters": _FILTER_KEYS, "split_members": _SPLIT_KEYS,
                 "toolchain": _TOOLCHAIN_KEYS}[where]
        close = difflib.get_close_matches(key, list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return DeclarationError(f"{path}:{line}: unknown field {key!r}{' in [' + where + ']' if where else ''}{hint}")

    def fields(where: str, cls, tdata: dict, known: set[str]) -> dict:
        """The keys of one table as `cls`'s field types: unknown keys are errors (with a hint)."""
        out = {}
        for key, value in tdata.items():
            if key not in known:
                raise bad(key, where)
            label = f"{where}.{key}" if where else key
            out[key] = decl.typed(path, label, value, cls.__dataclass_fields__[key].type)
        return out

    for key in data:
        if key not in _TOP_KEYS:
            raise bad(key, "")
    top = fields("", CorpusSpec, {k: v for k, v in data.items() if k not in _TABLES}, _TOP_KEYS - _TABLES)
    sources = _sources(path, data.get("sources", []), top, lambda s: fields("sources", Source, s, _SOURCE_KEYS),
                       allow_dirs)
    filters = Filters(**fields("filters", Filters, decl.table(path, "filters", data.get("filters", {})), _FILTER_KEYS))
    for key in ("min_english", "min_ascii", "max_verbatim", "max_comment_lines"):
        decl.in_range(path, f"filters.{key}", getattr(filters, key), 0.0, 1.0)
    for key in ("min_chars", "max_chars"):
        decl.in_range(path, f"filters.{key}", getattr(filters, key), 0)
    toolchain = ToolchainDecl(**fields("toolchain", ToolchainDecl, decl.table(path, "toolchain", data.get("toolchain", {})),
                                       _TOOLCHAIN_KEYS))
    toolchain = ToolchainDecl(decl.latex_preamble(path, toolchain.latex_preamble),
                              decl.c_flags(path, toolchain.c_flags, decl.dir_folders(sources)),
                              decl.latex_inputs(path, toolchain.latex_inputs))
    split_members = None
    if data.get("split_members") is not None:
        split_members = _split_members(path, fields("split_members", SplitMembers,
                                                    decl.table(path, "split_members", data["split_members"]), _SPLIT_KEYS))
    split = top.get("split", (0.9, 0.05, 0.05))
    if any(not 0 <= x <= 1 for x in split) or abs(sum(split) - 1) > 1e-6:
        raise DeclarationError(f"{path}: split must be three fractions (train, val, test) summing to 1")
    if "format" not in top:
        raise DeclarationError(f"{path}: missing required field 'format'")
    for key in ("documents", "chars"):
        decl.in_range(path, key, top.get(key, 0), 0)
    return CorpusSpec(
        name=decl.plain_name(path, "name", name or top.get("name") or path.stem),
        format=top["format"],
        description=top.get("description", ""),
        license=top.get("license", "unknown"),
        sources=tuple(sources),
        include=top.get("include", ("*",)),
        exclude=top.get("exclude", ()),
        filters=filters,
        split=split,  # type: ignore[arg-type]
        split_seed=top.get("split_seed", 1234),
        split_group=_split_group(path, top.get("split_group", "")),
        content_sha256=decl.hex_digest(path, "content_sha256", top.get("content_sha256", "")),
        documents=top.get("documents", 0),
        chars=top.get("chars", 0),
        split_members=split_members,
        toolchain=toolchain,
        origin=str(path),
        drill=_drill_params(path, data, sources),
    )


def _drill_params(path: Path, data: dict, sources: list[Source]) -> DrillParams | None:
    """A drill declaration has one source, of kind drill, and a `[drill]` table (its defaults where empty)."""
    drills = [s for s in sources if s.kind == "drill"]
    if not drills:
        if "drill" in data:
            raise DeclarationError(f"{path}: [drill] goes with a source of kind \"drill\"")
        return None
    if len(sources) != 1:
        raise DeclarationError(f"{path}: a drill corpus has exactly one source, of kind \"drill\"")
    try:
        return parse_params(data.get("drill", {}), str(path))
    except GencheckError as exc:
        raise DeclarationError(str(exc)) from None


_TABLES = {"sources", "filters", "split_members", "toolchain", "drill"}


def _sources(path: Path, entries: Any, top: dict, typed_fields, allow_dirs: Sequence[Path] = ()) -> list[Source]:
    """The [[sources]] entries as checked Sources (a dir source's path made absolute, from the declaration's
    folder, and confined to it or to `allow_dirs`); a DeclarationError naming the first problem."""
    if not isinstance(entries, list):
        raise DeclarationError(f"{path}: sources must be [[sources]] tables, not {entries!r:.60}")
    sources = []
    for entry in entries:
        s = typed_fields(decl.table(path, "sources", entry))
        if s.get("kind") not in SOURCE_KINDS:
            raise DeclarationError(f"{path}: source kind {s.get('kind')!r} is not one of {', '.join(SOURCE_KINDS)}")
        if s.get("verify", "sha256") not in VERIFY_MODES:
            raise DeclarationError(f"{path}: source verify {s['verify']!r} is not one of {', '.join(VERIFY_MODES)}")
        if s["kind"] == "dir":
            if not s.get("path"):
                raise DeclarationError(f"{path}: a dir source needs `path` (a folder, from the declaration's)")
            s = {**s, "path": str(decl.dir_source(path, s["path"], allow_dirs))}
        elif s["kind"] == "drill":
            pass  # generated from its base corpus, pinned by the corpus's content_sha256
        elif s.get("verify") == "content":
            if not s.get("file"):
                raise DeclarationError(f"{path}: every downloaded source needs `file`")
            if not top.get("content_sha256"):
                raise DeclarationError(f"{path}: a source with verify = \"content\" needs the corpus's content_sha256 pinned")
            if s.get("sha256"):
                raise DeclarationError(f"{path}: a source with verify = \"content\" has no sha256 (its bytes are not stable)")
        elif not s.get("sha256") or not s.get("file"):
            raise DeclarationError(f"{path}: every downloaded source needs `file` and `sha256` (or verify = \"content\")")
        decl.hex_digest(path, "source sha256", s.get("sha256", ""))
        if s.get("strip", 0) < 0:
            raise DeclarationError(f"{path}: source strip must be a whole number of path components")
        source = Source(**s)
        try:
            check_source(source)
        except GencheckError as exc:
            raise DeclarationError(f"{path}: {exc}") from None
        sources.append(source)
    if not sources:
        raise DeclarationError(f"{path}: a corpus needs at least one [[sources]] entry")
    return sources


def _split_members(path: Path, f: dict) -> SplitMembers:
    sm = SplitMembers(**f)
    if not sm.members or bool(sm.begin) == bool(sm.chunk_chars):
        raise DeclarationError(f"{path}: [split_members] needs `members` and either a `begin` pattern or `chunk_chars`")
    decl.in_range(path, "split_members.chunk_chars", sm.chunk_chars, 0)
    decl.path_template(path, "split_members.path", sm.path)
    for key in ("begin", "end", "resume", "drop"):
        pattern = getattr(sm, key)
        compiled = decl.regex(path, f"[split_members] {key}", pattern)
        if key in ("begin", "resume") and pattern and "name" not in compiled.groupindex:
            raise DeclarationError(f"{path}: [split_members] {key} needs a named group (?P<name>...)")
    return sm


def builtin_specs() -> Registry[Path]:
    """The declarations shipped in the package (`corpora/*.toml`); file stem = corpus name."""
    reg: Registry[Path] = Registry("corpus")
    root = resources.files("gencheck.corpora")
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            reg.add(entry.name[: -len(".toml")], Path(str(entry)))
    return reg


def resolve_spec(name_or_path: str, fmt: str | None = None, allow_dirs: Sequence[Path] = ()) -> CorpusSpec:
    """A built-in name, a declaration file (`my.toml`; its dir sources confined, see load_spec), or a
    directory of the user's own files."""
    p = Path(name_or_path)
    if name_or_path.endswith(".toml") and p.is_file():
        return load_spec(p, allow_dirs=allow_dirs)
    if p.is_dir():
        if not fmt:
            raise UsageError(f"{name_or_path} is a directory: say which format it holds with --format")
        from gencheck.validators import FORMATS

        spec = FORMATS.get(fmt)
        return CorpusSpec(
            name=p.resolve().name, format=fmt, description=f"your files under {p}", license="yours",
            sources=(Source(kind="dir", path=str(p.resolve())),),
            include=tuple(f"*{ext}" for ext in spec.extensions), origin=str(p),
        )
    reg = builtin_specs()
    if name_or_path not in reg:
        raise UsageError(reg.unknown_message(name_or_path))
    return load_spec(reg.get(name_or_path), name_or_path)


# --- building ----------------------------------------------------------------------------------------

_STOPWORDS = frozenset(
    "the of and to a in is that for it as with be by this on are we an or from at which not can if "
    "then let".split()
)
_WORD = re.compile(r"[A-Za-z]+")


def english_share(text: str) -> float:
    words = _WORD.findall(text)
    return sum(w.lower() in _STOPWORDS for w in words) / max(1, len(words))


def verbatim_share(text: str, envs: tuple[str, ...]) -> float:
    if not envs:
        return 0.0
    names = "|".join(re.escape(e) for e in envs)
    pat = re.compile(rf"\\begin\{{({names})\}}.*?\\end\{{\1\}}", re.S)
    return sum(len(m.group(0)) for m in pat.finditer(text)) / max(1, len(text))


def keep(text: str, f: Filters) -> bool:
    if not (f.min_chars <= len(text) <= f.max_chars):
        return False
    if any(r not in text for r in f.require):
        return False
    if f.min_ascii and sum(1 for c in text if c < "\x80") / len(text) < f.min_ascii:
        return False
    if f.min_english and english_share(text) < f.min_english:
        return False
    if f.max_verbatim < 1.0 and verbatim_share(text, f.verbatim_envs) > f.max_verbatim:
        return False
    if f.max_comment_lines < 1.0 and comment_share(text, f.comment_prefix) > f.max_comment_lines:
        return False
    return True


def comment_share(text: str, prefix: str) -> float:
    """Share of non-blank lines that are whole-line comments: templates are mostly instructions in comments."""
    lines = [ln.lstrip() for ln in text.splitlines() if ln.strip()]
    return sum(ln.startswith(prefix) for ln in lines) / max(1, len(lines)) if prefix else 0.0


def normalise(data: bytes) -> str | None:
    """UTF-8 text with LF line endings and no BOM; None when not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def matches(path: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, g) for g in include) and not any(
        fnmatch.fnmatchcase(path, g) for g in exclude
    )


def content_hash(documents: list[Document]) -> str:
    h = hashlib.sha256()
    for d in sorted(documents, key=lambda d: d.path):
        h.update(f"{d.path}\0{sha256_text(d.text)}\n".encode())
    return h.hexdigest()


def _split_group(path: Path, pattern: str) -> str:
    compiled = decl.regex(path, "split_group", pattern)
    if pattern and compiled.groups < 1:
        raise DeclarationError(f"{path}: split_group needs a group, e.g. \"^docs/([a-z]+)/\": its text names the family")
    return pattern


def document_groups(paths: list[str], pattern: str, origin: str = "") -> list[str]:
    """The family of each document for `split_group`: the regex's first group where it matches, else the
    document's own path (a family of one); every path within one time budget (decl.RegexClock)."""
    if not pattern:
        return list(paths)
    where = f"{origin or 'the declaration'}, document paths"
    rx, clock = decl.regex(where, "split_group", pattern), decl.RegexClock(where)
    return [m.group(1) if (m := clock.run("split_group", rx, "search", p)) else p for p in paths]


def split_documents(n: int, fractions: tuple[float, float, float], seed: int,
                    groups: list[str] | None = None) -> dict[str, list[int]]:
    """Deterministic split by document; val and test get at least one document when n >= 3.

    With `groups` (one family name per document), whole families go to one split: documents of one
    template or one project share phrasing, and a test document whose siblings are in train is not held
    out (measured on `latex`: a 20-gram scored 1.08 bits/char on a random split, 2.25 on a split by
    package). Families are shuffled by the seed and fill test, then val, up to their fractions."""
    if groups is None:
        groups = [str(i) for i in range(n)]
    families = list(dict.fromkeys(groups))  # in document order: with no groups, the same shuffle as ever
    random.Random(seed).shuffle(families)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    n_val = max(1 if n >= 3 else 0, round(n * fractions[1]))
    n_test = max(1 if n >= 3 else 0, round(n * fractions[2]))
    out: dict[str, list[int]] = {"test": [], "val": [], "train": []}
    for g in families:
        split = "test" if len(out["test"]) < n_test else "val" if len(out["val"]) < n_val else "train"
        out[split] += members[g]
    return {k: sorted(v) for k, v in out.items()}


def chunk_text(text: str, member: str, size: int) -> list[tuple[str, str]]:
    """Pieces of at least `size` characters, cut at the first blank line after that (the blank line dropped)."""
    out, start = [], 0
    while start < len(text):
        cut = text.find("\n\n", start + size)
        end, nxt = (len(text), len(text)) if cut < 0 else (cut + 1, cut + 2)
        out.append((f"{member}~{len(out) + 1:04d}", text[start:end]))
        start = nxt
    return out


def split_member(text: str, member: str, how: SplitMembers, origin: str = "") -> list[tuple[str, str]]:
    """(path, text) of the files a concatenated member was made of, in order of first appearance; the
    declared patterns share one time budget per member (decl.RegexClock)."""
    if how.chunk_chars:
        return chunk_text(text, member, how.chunk_chars)
    where = f"{origin or 'the declaration'}, member {member}"
    compiled = {k: decl.regex(where, f"[split_members] {k}", getattr(how, k)) if getattr(how, k) else None
                for k in ("begin", "end", "resume", "drop")}
    clock = decl.RegexClock(where)

    def full(key: str, line: str):
        return clock.run(f"[split_members] {key}", compiled[key], "fullmatch", line) if compiled[key] else None

    parts: dict[str, list[str]] = {member: []}
    latest: dict[str, str] = {}  # a file's name -> the key of its latest part
    stack: list[str] = []
    current = member

    def clean(name: str) -> str:
        while name.startswith(("./", "../")):
            name = name.split("/", 1)[1]
        return name

    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\n")
        if full("drop", bare):
            continue
        m = full("begin", bare)
        if m:
            name = clean(m.group("name"))
            key, k = name, 1
            while key in parts:
                k += 1
                key = f"{name}~{k}"
            parts[key] = []
            stack.append(current)
            latest[name] = current = key
            continue
        if full("end", bare):
            current = stack.pop() if stack else member
            continue
        m = full("resume", bare)
        if m:
            name = clean(m.group("name"))
            current = latest.get(name, member if name == member.rsplit("/", 1)[-1] else name)
            parts.setdefault(current, [])
            continue
        parts[current].append(line)
    return [(member if key == member else how.path.format(name=key, member=member), "".join(lines))
            for key, lines in parts.items()]


_BYTES_SLACK = 4096  # a BOM, and room to spare: CRLF pairs become one character, never more bytes

#: The most characters of documents one build holds (the largest built-in corpus has 28 million): an archive
#: of many distinct members, each under its cap, stops here with one line instead of exhausting memory.
BUILD_MAX_CHARS = 1 << 28


def documents_from(spec: CorpusSpec, raw: Path, stats: BuildStats, source: Source | None = None) -> list[Document]:
    docs: dict[str, Document] = {}
    seen: set[str] = set()
    src = source or Source(kind="dir")
    sm = spec.split_members
    held, cap = 0, BUILD_MAX_CHARS

    def selected(path: str) -> bool:
        return matches(path, spec.include, spec.exclude)

    def max_bytes(path: str) -> int:
        """A member to be split may be long; any other is a document, at most 4 UTF-8 bytes a character."""
        if sm is not None and matches(path, sm.members, ()):
            return MEMBER_CAP
        return 4 * spec.filters.max_chars + _BYTES_SLACK

    for path, data in iter_members(raw, inner=src.inner, strip=src.strip, want=selected, max_bytes=max_bytes):
        stats.members += 1
        if data is None:
            continue
        stats.selected += 1
        if len(data) > max_bytes(path):  # read only up to the cap: longer than max_chars, filtered anyway
            stats.filtered += 1
            continue
        if b"\x00" in data:
            stats.binary += 1
            continue
        text = normalise(data)
        if text is None:
            stats.not_utf8 += 1
            continue
        pieces = [(path, text)]
        if sm is not None and matches(path, sm.members, ()):
            pieces = split_member(text, path, sm, spec.origin)
            stats.split_parts += len(pieces)
        for piece_path, piece in pieces:
            if not keep(piece, spec.filters):
                stats.filtered += 1
                continue
            if piece_path in docs:  # a compressed twin (x and x.gz) or a split part named like a member
                stats.duplicates += 1
                if sha256_text(piece) > sha256_text(docs[piece_path].text):
                    continue  # keep the same one whatever the archive's order
                held -= len(docs[piece_path].text)
            held += len(piece)
            if held > cap:
                raise GencheckError(f"{raw}: the documents pass {cap:,} characters at member {path}, the most one "
                                    f"corpus build holds; narrow the declaration's include or filters.max_chars")
            docs[piece_path] = Document(piece_path, piece)
    out = []
    for path in sorted(docs):
        digest = sha256_text(docs[path].text)
        if digest in seen:
            stats.duplicates += 1
            continue
        seen.add(digest)
        out.append(docs[path])
    return out


def build(spec: CorpusSpec, *, offline: bool = False, mirrors: list[Path] | None = None,
          home: Path | None = None, log=None) -> Corpus:
    """Build (or load from cache) the corpus a declaration describes."""
    home = home or gencheck_home()
    cached = _cache_path(spec, home)
    files = folder_state(spec)  # taken before reading: a file changed meanwhile makes the next build redo it
    if cached.exists():
        try:
            return _load_cached(spec, cached, files)
        except StaleCache as exc:
            if log and exc.damaged:
                from rich.markup import escape

                log(f"rebuilding the corpus: its cache is damaged ({escape(str(exc))})")
    if spec.drill is not None:
        return _build_drill(spec, cached, offline=offline, mirrors=mirrors, home=home, log=log)
    raw, source = _get_sources(spec, home, mirror_dirs(mirrors), offline, log)
    stats = BuildStats()
    docs = documents_from(spec, raw, stats, source)
    if not docs and stats.selected == 0:
        raise GencheckError(
            f"corpus {spec.name!r} is empty: no files matching {list(spec.include)} among the "
            f"{stats.members} files of {source.describe()}"
        )
    if not docs:
        raise GencheckError(
            f"corpus {spec.name!r} is empty after filtering ({stats.selected} of {stats.members} files "
            f"selected by {list(spec.include)}; {stats.not_utf8} not UTF-8, {stats.binary} binary, "
            f"{stats.filtered} filtered out): loosen [filters] in {spec.origin}"
        )
    digest = content_hash(docs)
    if spec.content_sha256 and digest != spec.content_sha256:
        if source.verify == "content" and raw.parent == home / "downloads":
            raw.unlink(missing_ok=True)  # verified by content only: not worth keeping
        raise GencheckError(
            f"corpus {spec.name!r}: content hash {digest} differs from the pinned {spec.content_sha256} "
            f"in {spec.origin}; refusing to build a different corpus under the same name"
        )
    built_chars = sum(len(d.text) for d in docs)
    if spec.documents and (len(docs), built_chars) != (spec.documents, spec.chars):
        raise GencheckError(
            f"corpus {spec.name!r}: built {len(docs)} documents / {built_chars} chars, but {spec.origin} "
            f"declares {spec.documents} / {spec.chars}"
        )
    groups = document_groups([d.path for d in docs], spec.split_group, spec.origin) if spec.split_group else None
    corpus = Corpus(spec, docs, split_documents(len(docs), spec.split, spec.split_seed, groups), digest, stats)
    _cache(corpus, cached, files)
    return corpus


def _build_drill(spec: CorpusSpec, cached: Path, *, offline: bool, mirrors: list[Path] | None, home: Path,
                 log) -> Corpus:
    """Generate a drill from its base corpus (built or loaded first), pin it by content hash like any
    corpus, and cache it; its splits are the generator's, not a random split."""
    from .drill import generate
    from .progress import progress

    base_name = spec.sources[0].corpus
    base = build(resolve_spec(base_name), offline=offline, mirrors=mirrors, home=home, log=log)
    if base.spec.format != spec.format:
        raise GencheckError(f"{spec.origin}: drill format {spec.format!r} but base corpus {base_name!r} is "
                            f"{base.spec.format!r}")
    p = spec.drill
    total = p.train_chars + 2 * p.eval_chars
    with progress(f"generate drill {spec.name}", total) as bar:
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            bar.update(min(done[0], total))

        parts = generate(spec.format, p, {k: base.texts(k) for k in SPLITS}, tick)
    docs, splits = [], {}
    for split in SPLITS:
        splits[split] = list(range(len(docs), len(docs) + len(parts[split])))
        docs += [Document(path, text) for path, text in parts[split]]
    digest = content_hash(docs)
    if spec.content_sha256 and digest != spec.content_sha256:
        raise GencheckError(f"corpus {spec.name!r}: content hash {digest} differs from the pinned "
                            f"{spec.content_sha256} in {spec.origin}; refusing to build a different corpus "
                            "under the same name")
    corpus = Corpus(spec, docs, splits, digest, BuildStats(members=len(docs), selected=len(docs)))
    _cache(corpus, cached, "")
    return corpus


def _cache(corpus: Corpus, cached: Path, files: str) -> None:
    """Write the built corpus where `build` looks first, and its summary beside it."""
    spec, docs, stats, digest = corpus.spec, corpus.documents, corpus.stats, corpus.content_hash
    payload = {
        "corpus_format": CORPUS_FORMAT_VERSION,
        "name": spec.name,
        "fingerprint": spec.fingerprint,
        "files": files,
        "content_hash": digest,
        "stats": asdict(stats),
        "splits": corpus.splits,
        "documents": [[d.path, d.text] for d in docs],
    }
    atomic_write_bytes(cached, gzip.compress(json.dumps(payload).encode(), compresslevel=1, mtime=0))
    _write_summary(corpus, cached, files)


def _cache_path(spec: CorpusSpec, home: Path) -> Path:
    decl.plain_name(Path(spec.origin or spec.name), "name", spec.name)  # a spec made in code is checked too
    return home / "corpora" / f"{spec.name}-{spec.fingerprint}.json.gz"


def folder_state(spec: CorpusSpec) -> str:
    """A digest of the name, size and mtime of every file in the declaration's folders ("" when it has none).

    The declaration does not pin a folder's contents, so its build is valid only while this stays the same.
    """
    folders = [Path(s.path) for s in spec.sources if s.kind == "dir"]
    if not folders:
        return ""
    h = hashlib.sha256()
    for folder in folders:
        h.update(f"{folder}\0{folder.is_dir()}\n".encode())
        for p in sorted(folder.rglob("*")) if folder.is_dir() else ():
            try:
                st = p.stat()
            except OSError:
                continue  # a dangling link, not read by the build either
            if stat.S_ISREG(st.st_mode):
                h.update(f"{p.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _summary(corpus: Corpus, files: str) -> dict[str, Any]:
    return {"documents": len(corpus.documents), "chars": corpus.chars(), "content_hash": corpus.content_hash,
            "bytes": sum(len(d.text.encode("utf-8")) for d in corpus.documents), "files": files}


def _write_summary(corpus: Corpus, cached: Path, files: str) -> dict[str, Any]:
    summary = _summary(corpus, files)
    atomic_write_bytes(cached.with_name(cached.name.replace(".json.gz", ".summary.json")),
                       json.dumps(summary).encode())
    return summary


def built_summary(spec: CorpusSpec, home: Path | None = None) -> dict[str, Any] | None:
    """Documents, chars, bytes and content hash of the built (cached) corpus; None when not built.

    A folder corpus whose files changed since its build counts as not built: its summary is stale.
    """
    cached = _cache_path(spec, home or gencheck_home())
    summary = cached.with_name(cached.name.replace(".json.gz", ".summary.json"))
    if not cached.exists():
        return None
    files = folder_state(spec)
    try:
        found = json.loads(read_bytes_capped(summary, 1 << 16, "corpus summary"))
        _SUMMARY(found, str(summary))
    except (GencheckError, ValueError, RecursionError):  # absent (built before summaries), damaged: from the cache
        try:
            corpus = _load_cached(spec, cached, files)
        except StaleCache:
            return None
        found = _write_summary(corpus, cached, files)
    if found.pop("files") != files:
        return None
    return found


_SUMMARY = schema.obj({"documents": schema.COUNT, "chars": schema.COUNT, "bytes": schema.COUNT,
                       "content_hash": schema.text, "files": schema.text})
_CACHED = schema.obj({"corpus_format": schema.whole, "fingerprint": schema.text, "files": schema.text,
                      "content_hash": schema.text,
                      "stats": schema.obj({k: schema.COUNT for k in BuildStats.__dataclass_fields__}, closed=True),
                      "splits": schema.dict_of(schema.list_of(schema.COUNT)),
                      "documents": schema.list_of(schema.tuple_of(schema.text, schema.text))})


class StaleCache(ValueError):
    """A cached build that cannot be used: made from another declaration or other files (stale), or
    `damaged` (unreadable, of another shape, its split indices or content hash not its documents'); either
    way it is built again, never trusted."""

    def __init__(self, message: str, damaged: bool = True):
        super().__init__(message)
        self.damaged = damaged


def _load_cached(spec: CorpusSpec, path: Path, files: str) -> Corpus:
    """The cached build, if it was made from this declaration and (for a folder) these same files, and is
    whole: its shape checked, every split index a document, its content hash its documents' (StaleCache)."""
    import zlib

    from .sources import read_capped

    cap = 4 * BUILD_MAX_CHARS + (1 << 20)
    try:
        packed = read_bytes_capped(path, cap, "corpus cache")
        with gzip.GzipFile(fileobj=io.BytesIO(packed)) as fh:
            raw = read_capped(fh, cap)
        if len(raw) > cap:
            raise StaleCache(f"{path}: more than {cap:,} bytes unpacked")
        payload = json.loads(raw)
        _CACHED(payload, "")
    except (GencheckError, OSError, EOFError, zlib.error, ValueError, RecursionError) as exc:
        raise StaleCache(f"{path}: {exc}") from None
    if (payload["corpus_format"] != CORPUS_FORMAT_VERSION or payload["fingerprint"] != spec.fingerprint
            or payload["files"] != files):
        raise StaleCache(f"{path}: made from another declaration or other files", damaged=False)
    docs = [Document(p, t) for p, t in payload["documents"]]
    if any(i >= len(docs) for idx in payload["splits"].values() for i in idx):
        raise StaleCache(f"{path}: a split names a document it does not hold")
    if content_hash(docs) != payload["content_hash"]:
        raise StaleCache(f"{path}: its documents do not have its content hash")
    return Corpus(spec, docs, payload["splits"], payload["content_hash"], BuildStats(**payload["stats"]))


def _get_sources(spec: CorpusSpec, home: Path, mirrors: list[Path], offline: bool, log) -> tuple[Path, Source]:
    """The first source that can be had; else one error listing every source tried."""
    errors = []
    for src in spec.sources:
        if src.kind == "dir":
            p = Path(src.path)
            if not p.is_dir():
                errors.append(f"{src.describe()}: no such directory")
                continue
            return p, src
        try:
            if log:
                from rich.markup import escape

                log(f"fetching {escape(src.describe())}")
            return fetch(src, home / "downloads", mirrors, offline), src
        except GencheckError as exc:
            if "checksum mismatch" in str(exc):
                raise
            errors.append(f"{src.describe()}: {exc}")
    files = sorted({s.file for s in spec.sources if s.file})
    hint = f"; or put {' or '.join(files)} in a mirror directory (GENCHECK_MIRROR=DIR)" if files else ""
    raise GencheckError(f"could not get corpus {spec.name!r}: " + "; ".join(errors) + hint)


# --- vocabulary --------------------------------------------------------------------------------------

SEP = "\x1e"  # document separator (ASCII record separator); never left in a normalised document
UNK = "\x1a"  # unknown-character slot


@dataclass(frozen=True)
class Vocab:
    """Characters of the train split seen at least `min_count` times, plus separator and unknown."""

    chars: tuple[str, ...]

    @classmethod
    def from_texts(cls, texts: list[str], min_count: int = 1) -> "Vocab":
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(t)
        kept = sorted(c for c, n in counts.items() if n >= min_count and c not in (SEP, UNK))
        return cls((SEP, UNK, *kept))

    @property
    def size(self) -> int:
        return len(self.chars)

    @property
    def sep_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> list[int]:
        idx = self.index()
        return [idx.get(c, 1) for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[i] if i > 1 else ("" if i == 0 else "\ufffd") for i in ids)


def encode(text: str, vocab: Vocab) -> "np.ndarray":
    """Vectorised `Vocab.encode` (int64 ids), fast enough for corpora of tens of MB."""
    import numpy as np

    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    keys = np.array([ord(c) for c in vocab.chars], dtype=np.uint32)
    order = np.argsort(keys)
    sorted_keys = keys[order]
    pos = np.clip(np.searchsorted(sorted_keys, cps), 0, len(keys) - 1)
    return np.where(sorted_keys[pos] == cps, order[pos], vocab.unk_id).astype(np.int64)


def stream(texts: list[str], vocab: Vocab) -> "np.ndarray":
    """Documents joined into one id stream, each preceded by the separator."""
    return encode("".join(SEP + t for t in texts), vocab)


def unigram_entropy(texts: list[str]) -> float:
    """Entropy in bits per char of the texts' own character frequencies: an in-sample figure (the unigram
    is fitted and scored on the same text), not a held-out baseline -- for that, see `unigram_bpc`."""
    import math

    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(t)
    total = sum(counts.values())
    return -sum(n / total * math.log2(n / total) for n in counts.values()) if total else 0.0


def unigram_bpc(train_texts: list[str], eval_texts: list[str], vocab: Vocab) -> float:
    """Bits per char of a unigram fitted on `train_texts`, scored on `eval_texts` as `train.bits_per_char`
    scores the model: the same id stream (a separator before each document, characters outside `vocab`
    folded into UNK) and the same targets (every symbol after the first). Probabilities are train counts
    with add-one smoothing over the vocabulary, so a symbol never seen in train (UNK) costs a finite
    amount. NaN when there is nothing to score. (`bits_per_char` drops the last few symbols that do not
    fill its `batch_size` rows; this scores all of them.)"""
    import numpy as np

    target = stream(eval_texts, vocab)[1:] if eval_texts else np.zeros(0, dtype=np.int64)
    if target.size == 0:
        return float("nan")
    counts = np.bincount(stream(train_texts, vocab), minlength=vocab.size).astype(np.float64) + 1.0
    log_p = np.log2(counts / counts.sum())
    return float(-np.bincount(target, minlength=vocab.size) @ log_p / target.size)
