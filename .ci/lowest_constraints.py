"""Print a pip constraints file that pins every requirement of pyproject.toml to its lower bound.

CI installs with it (beside the README's own install) so the bounds we declare are tested, not hoped:
a `>=X` that no longer works fails CI and must be fixed or moved. Requirements without a lower bound
are left free; markers (`; python_version < '3.11'`) are kept.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*(\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?$")
_LOWER = re.compile(r">=\s*([^,\s]+)")


def lower_bounds(pyproject: Path, extras: tuple[str, ...] = ("test",)) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    reqs = list(project.get("dependencies", []))
    for extra in extras:
        reqs += project.get("optional-dependencies", {}).get(extra, [])
    out = []
    for req in reqs:
        m = _REQ.match(req)
        if not m:
            raise SystemExit(f"cannot read requirement {req!r} in {pyproject}")
        name, spec, marker = m.group(1), m.group(3), m.group(4) or ""
        low = _LOWER.search(spec)
        if low:
            out.append(f"{name}=={low.group(1)}{marker}")
    return out


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml")
    print("\n".join(lower_bounds(path)))
