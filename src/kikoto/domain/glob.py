"""Wildcard matching for everything a user writes with `*` and `?`: policy actions, resources
and principals, lifecycle tag patterns, tag-mutability exclusion filters.

Patterns are translated once to a regular expression and run on RE2, which matches in time
linear in the input whatever the pattern: a backtracking engine spends time exponential in the
number of wildcards on a pattern such as `*?*?*?…!` (the audit's 3 s at seven pairs, eight
times more per pair), and a policy is evaluated on every request, anonymous ones included.
"""

from __future__ import annotations

import re
from functools import lru_cache

import re2


def translate(pattern: str, question_mark: bool = True) -> str:
    """The regular expression a wildcard pattern stands for: `*` any run, `?` one character."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?" and question_mark:
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


@lru_cache(maxsize=4096)
def compile_glob(pattern: str, case_insensitive: bool = False, question_mark: bool = True):
    options = re2.Options()
    # `*` matches every character, newlines included, as IAM's wildcard does
    options.dot_nl, options.never_capture, options.log_errors = True, True, False
    options.case_sensitive = not case_insensitive
    return re2.compile(translate(pattern, question_mark), options)


def glob_match(pattern: str, value: str, case_insensitive: bool = False, question_mark: bool = True) -> bool:
    """Whether the whole of `value` matches `pattern` (linear time in len(value))."""
    if "*" not in pattern and ("?" not in pattern or not question_mark):
        return value.lower() == pattern.lower() if case_insensitive else value == pattern
    return compile_glob(pattern, case_insensitive, question_mark).fullmatch(value) is not None


def wildcards(pattern: str) -> int:
    return pattern.count("*") + pattern.count("?")
