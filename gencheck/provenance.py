"""What made a result: the versions of gencheck, Python, the libraries and the judges behind a number.

A verdict depends on the parser's version (pycparser 3.12 once failed every C text that 3.0 parsed), so
every results.json and every `validate --json` row records them, and comparing two results names the
versions that differ. Reads package metadata only: importing this module never imports torch.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from importlib import metadata

from . import __version__

#: The libraries whose version can change a figure: training (torch, numpy) and the validators.
PACKAGES = ("torch", "numpy", "pylatexenc", "pycparser", "markdown-it-py", "mistune", "rich")

#: The package behind each format's second opinion, for `validate --json` rows.
FORMAT_PACKAGES = {"latex": ("pylatexenc",), "c": ("pycparser",), "markdown": ("markdown-it-py",)}


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def gcc_version() -> str | None:
    """gcc's own version line (`gcc (Debian 12.2.0-14) 12.2.0`), or None without gcc."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return None
    try:
        out = subprocess.run([gcc, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0].strip() if out else None


def versions(packages: tuple[str, ...] = PACKAGES, judges: tuple[str, ...] = ()) -> dict[str, str | None]:
    """{"gencheck", "python", each package, each judge used}: None for what is not installed."""
    out: dict[str, str | None] = {"gencheck": __version__, "python": platform.python_version()}
    out.update({p: package_version(p) for p in packages})
    if "gcc" in judges:
        out["gcc"] = gcc_version()
    return out


def version_differences(base: dict[str, str | None], new: dict[str, str | None]) -> list[str]:
    """One line per component whose version differs between two results ("pycparser 3.0 → 3.12")."""
    lines = []
    for key in sorted(set(base) | set(new)):
        a, b = base.get(key), new.get(key)
        if a != b:
            lines.append(f"{key} {a or 'absent'} → {b or 'absent'}")
    return lines


_SPACE = re.compile(r"\s+")


def one_line(v: dict[str, str | None]) -> str:
    """`gencheck 0.1.0 · torch 2.13.0+cpu · …` for a scorecard caption."""
    return " · ".join(f"{k} {_SPACE.sub(' ', val)}" for k, val in v.items() if val)
