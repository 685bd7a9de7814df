"""A test-only format, "test-pathological", whose check misbehaves on marker strings.

Imported by the pool's workers through `validate_many(..., setup_module="_pool_test_formats")`.
"""

from __future__ import annotations

import os
import re
import signal

from gencheck.validators import FORMATS, Report, register_format

if "test-pathological" not in FORMATS:

    @register_format("test-pathological", (".pathological",), "test only: hangs, crashes or raises on markers",
                     kinds={"none": "this format reports no findings; the pool's own kinds are what it tests"})
    def check(text: str) -> Report:
        if "PYHANG" in text:  # a Python-level loop: the worker's soft time limit interrupts it
            while True:
                pass
        if "CHANG" in text:  # catastrophic backtracking inside one C call: only a hard kill ends it
            re.match(r"(a+)+$", "a" * 64 + "b")
        if "SEGV" in text:
            os.kill(os.getpid(), signal.SIGKILL)
        if "BOOM" in text:
            raise ValueError("boom")
        if "MEMORY" in text:
            _ = bytearray(8 * 1024**3)
        return Report()
