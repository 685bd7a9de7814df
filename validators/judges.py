"""The pool's setup module for the toolchain judges: importing it registers the `toolchain-<format>`
formats (see `toolchains.register_judge_formats`), in the workers and in the parent."""

from .toolchains import register_judge_formats

register_judge_formats()
