"""Strided views of ONNX values and rectangles of their 2-D matrices.

Every ONNX value is seen as the 2-D matrix of its *folded* shape: the last
axis gives the columns and all leading axes are folded into the rows. A
layout op (Reshape, Transpose, Identity, ...) does not move data: its
output is a :class:`View` of the value that produced the data (its
*base*), described like a NumPy array by an offset and strides into the
base's row-major elements. A rectangle of a view is either a rectangle of
its base's matrix (then the view costs nothing) or it is not (then the
data has to be gathered by a copy op).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

#: Beyond this many elements, the footprint of a rectangle is not
#: enumerated and the whole base is taken instead.
MAX_ENUMERATED = 1 << 22


class Rect(NamedTuple):
    """Rows ``r0:r1`` and columns ``c0:c1`` of a folded matrix."""

    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def rows(self) -> int:
        """Number of rows."""
        return self.r1 - self.r0

    @property
    def cols(self) -> int:
        """Number of columns."""
        return self.c1 - self.c0

    def contains(self, other: Rect) -> bool:
        """Whether ``other`` lies inside this rectangle."""
        return (
            self.r0 <= other.r0
            and other.r1 <= self.r1
            and self.c0 <= other.c0
            and other.c1 <= self.c1
        )

    def overlaps(self, other: Rect) -> bool:
        """Whether the two rectangles share an element."""
        return (
            self.r0 < other.r1
            and other.r0 < self.r1
            and self.c0 < other.c1
            and other.c0 < self.c1
        )


def folded(shape: tuple[int, ...]) -> tuple[int, int]:
    """Rows and columns of the 2-D matrix of an N-D shape."""
    if not shape:
        return 1, 1
    return math.prod(shape[:-1]), shape[-1]


def whole(shape: tuple[int, ...]) -> Rect:
    """The rectangle covering a whole value."""
    rows, cols = folded(shape)
    return Rect(0, rows, 0, cols)


def _contiguous(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return tuple(strides)


class View(NamedTuple):
    """A value seen through layout ops: ``base`` elements at strides.

    ``strided_shape`` and ``strides`` place the elements in the base;
    ``shape`` is the shape consumers see. The two differ after a reshape
    that NumPy could not do without copying: such a view is never a
    rectangle of its base, so every use of it copies.
    """

    base: str
    base_shape: tuple[int, ...]
    offset: int
    strided_shape: tuple[int, ...]
    strides: tuple[int, ...]
    shape: tuple[int, ...]

    @classmethod
    def of(cls, name: str, shape: tuple[int, ...]) -> View:
        """The identity view of a value on itself."""
        return cls(name, shape, 0, shape, _contiguous(shape), shape)

    @property
    def copies(self) -> bool:
        """Whether every use of the view needs a copy."""
        return self.shape != self.strided_shape

    def transpose(self, perm: tuple[int, ...]) -> View | None:
        """The view with its axes permuted, or None after a copy."""
        if self.copies:
            return None
        shape = tuple(self.shape[p] for p in perm)
        strides = tuple(self.strides[p] for p in perm)
        return self._replace(strided_shape=shape, strides=strides, shape=shape)

    def reshape(self, shape: tuple[int, ...]) -> View:
        """The view with a new shape (copying when the strides need)."""
        strides = None
        if not self.copies:
            strides = _reshape_strides(self.shape, self.strides, shape)
        if strides is None:
            return self._replace(shape=shape)
        return self._replace(strided_shape=shape, strides=strides, shape=shape)

    def base_rect(self, rect: Rect) -> Rect | None:
        """``rect`` as a rectangle of the base matrix, if it is one."""
        if self.copies:
            return self._enumerated_rect(rect)
        base_cols = folded(self.base_shape)[1]
        row_starts = self._base_index(
            np.arange(rect.r0, rect.r1, dtype=np.int64) * folded(self.shape)[1]
        )
        col_stride = self.strides[-1] if self.shape else 1
        first = int(row_starts[0]) + rect.c0 * col_stride
        if rect.cols > 1 and col_stride != 1:
            return None
        if first % base_cols + rect.cols > base_cols:
            return None
        expected = first + base_cols * np.arange(rect.rows)
        if not np.array_equal(row_starts + rect.c0 * col_stride, expected):
            return None
        r0, c0 = divmod(first, base_cols)
        return Rect(r0, r0 + rect.rows, c0, c0 + rect.cols)

    def footprint(self, rect: Rect) -> Rect:
        """The smallest base rectangle holding every element of ``rect``."""
        base_rows, base_cols = folded(self.base_shape)
        if rect.rows * rect.cols > MAX_ENUMERATED:
            return Rect(0, base_rows, 0, base_cols)
        return _bounding(self._elements(rect), base_cols)

    def _enumerated_rect(self, rect: Rect) -> Rect | None:
        # Copying views have no uniform strides: compare element by element.
        if rect.rows * rect.cols > MAX_ENUMERATED:
            return None
        base_cols = folded(self.base_shape)[1]
        elements = self._elements(rect)
        box = _bounding(elements, base_cols)
        grid = np.arange(box.r0, box.r1)[:, None] * base_cols + np.arange(
            box.c0, box.c1
        )
        return box if np.array_equal(grid, elements) else None

    def _elements(self, rect: Rect) -> np.ndarray:
        """Base element index of every element of ``rect``, as a matrix."""
        rows = np.arange(rect.r0, rect.r1, dtype=np.int64)
        cols = np.arange(rect.c0, rect.c1, dtype=np.int64)
        flat = rows[:, None] * folded(self.shape)[1] + cols[None, :]
        return self._base_index(flat)

    def _base_index(self, flat: np.ndarray) -> np.ndarray:
        """Base element index of each row-major element index of shape."""
        index = np.full(flat.shape, self.offset, dtype=np.int64)
        rest = flat.copy()
        for size, stride in zip(
            reversed(self.strided_shape), reversed(self.strides)
        ):
            rest, digit = np.divmod(rest, size)
            index += digit * stride
        return index


def _reshape_strides(
    shape: tuple[int, ...],
    strides: tuple[int, ...],
    new_shape: tuple[int, ...],
) -> tuple[int, ...] | None:
    """Strides of ``new_shape`` over the same elements, as NumPy reshapes
    without copying; None when the elements are not laid out for it."""
    old = [(d, s) for d, s in zip(shape, strides) if d != 1]
    new = list(new_shape)
    out = [1] * len(new)
    oi = ni = 0
    while ni < len(new) and oi < len(old):
        nj, oj = ni + 1, oi + 1
        n_size, o_size = new[ni], old[oi][0]
        while n_size != o_size:
            if n_size < o_size:
                n_size *= new[nj]
                nj += 1
            else:
                o_size *= old[oj][0]
                oj += 1
        for k in range(oi, oj - 1):
            if old[k][1] != old[k + 1][0] * old[k + 1][1]:
                return None
        out[nj - 1] = old[oj - 1][1]
        for k in range(nj - 1, ni, -1):
            out[k - 1] = out[k] * new[k]
        ni, oi = nj, oj
    return tuple(out)


def _bounding(elements: np.ndarray, base_cols: int) -> Rect:
    rows, cols = np.divmod(elements, base_cols)
    return Rect(
        int(rows.min()),
        int(rows.max()) + 1,
        int(cols.min()),
        int(cols.max()) + 1,
    )


def cuts(extent: int, rects: list[Rect], axis: int) -> list[int]:
    """Sorted cut points along rows (axis 0) or columns (axis 1)."""
    points = {0, extent}
    for r in rects:
        points.update((r.r0, r.r1) if axis == 0 else (r.c0, r.c1))
    return sorted(points)
