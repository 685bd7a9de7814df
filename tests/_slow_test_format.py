"""A test-only format, "test-slow", whose check accepts everything after `SLOW_S` seconds.

Imported by the pool's workers through `validate_many(..., setup_module="_slow_test_format")`: a valid
document under a time limit shorter than the check is what `unjudged` is for.
"""

from __future__ import annotations

import time

from gencheck.validators import FORMATS, Report, register_format

SLOW_S = 0.2

if "test-slow" not in FORMATS:

    @register_format("test-slow", (".slow",), "test only: accepts every text after SLOW_S seconds",
                     kinds={"none": "this format reports no findings; only the pool's time limit can fail it"})
    def check(text: str) -> Report:  # noqa: ARG001
        time.sleep(SLOW_S)  # SIGALRM interrupts the sleep, as it does a slow parser
        return Report()
