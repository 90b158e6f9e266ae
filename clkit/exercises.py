"""Self-check cells for the exercises at the end of each lesson.

An exercise asks a question whose answer the reader writes into a variable; the cell below it calls
:func:`check`. Left empty (``None``), it says how to answer; a wrong answer fails with an
``AssertionError`` that says what was expected and why; a right one says so.

>>> check(None, 2.0, why="the square root of 4")
Not answered yet: write your answer in the cell above (replace None), then run this cell again.
>>> check(2.0, 2.0, why="the square root of 4")
Correct: 2.0. (the square root of 4)
"""

from __future__ import annotations

import math
from typing import Any


def check(answer: Any, expected: Any, *, why: str, tolerance: float = 0.0) -> None:
    """Check a reader's answer against the expected one.

    Args:
        answer: what the reader wrote (``None`` while unanswered).
        expected: the right answer: a number (compared within ``tolerance``, absolute or relative,
            whichever is larger), a string (compared without case or surrounding spaces), or anything
            else compared with ``==``.
        why: one sentence of reasoning, printed with the verdict.
        tolerance: for numbers, the allowed difference (``0.01`` accepts 0.69 for log 2).
    Raises:
        AssertionError: a wrong answer, with the expected one and why.
    """
    if answer is None:
        print("Not answered yet: write your answer in the cell above (replace None), then run this cell again.")
        return
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if not isinstance(answer, (int, float)) or isinstance(answer, bool):
            raise AssertionError(f"Expected a number, got {answer!r}.")
        right = math.isclose(answer, expected, rel_tol=tolerance, abs_tol=tolerance)
    elif isinstance(expected, str):
        right = isinstance(answer, str) and answer.strip().lower() == expected.strip().lower()
    else:
        right = answer == expected
    shown = f"{expected:.4g}" if isinstance(expected, float) else repr(expected) if isinstance(expected, str) \
        else f"{expected}"
    if not right:
        raise AssertionError(f"Not quite: you wrote {answer!r}, the expected answer is {shown}. Why: {why}")
    print(f"Correct: {shown}. ({why})")
