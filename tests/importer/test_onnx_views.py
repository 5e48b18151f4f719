"""Tests of the strided views behind the importer's layout folding.

Every expectation is checked against NumPy doing the same layout ops on
an array of element indices, so no onnx is needed.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlsched.importer.views import Rect, View, folded

# (base shape, layout ops, rectangles of the result to check)
CASES = [
    # Attention, S = 4, H = 2, dh = 3: Q's head h is a column block.
    (
        (1, 4, 6),
        [("reshape", (1, 4, 2, 3)), ("transpose", (0, 2, 1, 3))],
        [Rect(0, 4, 0, 3), Rect(4, 8, 0, 3), Rect(1, 3, 1, 2)],
    ),
    # K transposed per head: not a rectangle; footprint = head block.
    (
        (1, 4, 6),
        [("reshape", (1, 4, 2, 3)), ("transpose", (0, 2, 3, 1))],
        [Rect(0, 3, 0, 4), Rect(3, 6, 0, 4), Rect(3, 4, 0, 1)],
    ),
    # Merging heads back needs a copy.
    (
        (1, 2, 4, 3),
        [("transpose", (0, 2, 1, 3)), ("reshape", (1, 4, 6))],
        [Rect(0, 4, 0, 6), Rect(0, 4, 0, 3), Rect(2, 3, 3, 6)],
    ),
    # Folding and unfolding leading dims keeps every rectangle.
    ((2, 3, 5), [("reshape", (6, 5))], [Rect(1, 5, 2, 4)]),
    (
        (6, 5),
        [("reshape", (2, 3, 5)), ("reshape", (30,))],
        [Rect(0, 1, 5, 10), Rect(0, 1, 3, 8)],
    ),
    # A plain 2-D transpose.
    ((4, 6), [("transpose", (1, 0))], [Rect(0, 6, 0, 4), Rect(2, 3, 0, 4)]),
]


def numpy_view(
    shape: tuple[int, ...], ops: list[tuple[str, tuple[int, ...]]]
) -> np.ndarray:
    """Base element index of every element after the layout ops."""
    arr = np.arange(int(np.prod(shape))).reshape(shape)
    for op, arg in ops:
        arr = arr.transpose(arg) if op == "transpose" else arr.reshape(arg)
    return arr


def our_view(
    shape: tuple[int, ...], ops: list[tuple[str, tuple[int, ...]]]
) -> View:
    view: View | None = View.of("base", shape)
    for op, arg in ops:
        assert view is not None
        view = view.transpose(arg) if op == "transpose" else view.reshape(arg)
    assert view is not None
    return view


def expected(
    base_shape: tuple[int, ...], elements: np.ndarray
) -> tuple[Rect | None, Rect]:
    """The exact base rectangle (if any) and the footprint of elements."""
    cols = folded(base_shape)[1]
    rows, columns = np.divmod(elements, cols)
    box = Rect(
        int(rows.min()),
        int(rows.max()) + 1,
        int(columns.min()),
        int(columns.max()) + 1,
    )
    grid = np.arange(box.r0, box.r1)[:, None] * cols + np.arange(
        box.c0, box.c1
    )
    exact = box if np.array_equal(grid, elements) else None
    return exact, box


@pytest.mark.parametrize(("shape", "ops", "rects"), CASES)
def test_rectangles_match_numpy(
    shape: tuple[int, ...],
    ops: list[tuple[str, tuple[int, ...]]],
    rects: list[Rect],
) -> None:
    """Tests that base_rect and footprint agree with NumPy's layout of
    the same elements, for each rectangle of each view."""
    arr = numpy_view(shape, ops)
    view = our_view(shape, ops)
    assert view.shape == arr.shape
    matrix = arr.reshape(folded(arr.shape))
    for rect in rects:
        elements = matrix[rect.r0 : rect.r1, rect.c0 : rect.c1]
        exact, box = expected(shape, elements)
        assert view.base_rect(rect) == exact, rect
        assert view.footprint(rect) == box, rect


@pytest.mark.parametrize(("shape", "ops", "rects"), CASES)
def test_copy_flag_matches_numpy(
    shape: tuple[int, ...],
    ops: list[tuple[str, tuple[int, ...]]],
    rects: list[Rect],
) -> None:
    """Tests that a view needs a copy exactly when NumPy's reshape had
    to copy (the result no longer shares memory with the base)."""
    del rects
    base = np.arange(int(np.prod(shape))).reshape(shape)
    arr = base
    for op, arg in ops:
        arr = arr.transpose(arg) if op == "transpose" else arr.reshape(arg)
    assert our_view(shape, ops).copies == (not np.shares_memory(arr, base))


def test_transpose_after_copy_is_refused() -> None:
    """Tests that a view that needs a copy cannot be transposed further
    (the importer reports that node instead of guessing)."""
    view = our_view(
        (1, 2, 4, 3), [("transpose", (0, 2, 1, 3)), ("reshape", (1, 4, 6))]
    )
    assert view.copies
    assert view.transpose((0, 2, 1)) is None
