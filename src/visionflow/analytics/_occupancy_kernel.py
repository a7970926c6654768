"""Zone occupancy by class as one compiled call (numba), for the units a caller asks about.

``ZoneBank`` reports each reporting unit's occupancy (``{class_id: tracks
inside}``) every round, and every ``counts`` event asks for it again. In
NumPy that is a search, a mask, ``np.isin`` and ``np.unique`` over the
table, some ten calls of a few µs each; here it is one call that reads the
unit's rows only (keys sort by unit first, so they are contiguous) and counts
their classes. Same counts, in the same order (ascending class id).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, types

from visionflow.analytics._round_kernel import KEY_SHIFT, _tuple, array

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Rows = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]
# (unit, class_id, tracks inside) of each (unit, class) with someone inside, sorted.
Occupancy = tuple[Rows, I64, I64]

_RESULT = _tuple(*(types.Array(t, 1, "C") for t in (types.intp, types.int64, types.int64)))
_SIGNATURE = _RESULT(
    array(types.int64),  # the table's keys, sorted
    array(types.boolean),  # inside
    array(types.int32),  # class_id
    types.Array(types.intp, 1, "C", readonly=True),  # the units asked about
)


@njit(_SIGNATURE, cache=True, nogil=True)
def occupancy(ids: I64, inside: Mask, class_id: I32, units: Rows) -> Occupancy:
    """Tracks inside each of ``units`` by class.

    Args:
        ids: ``[T]`` the zone table's keys (``unit << 32 | track_id``), sorted.
        inside: ``[T]`` the table's ``inside`` column.
        class_id: ``[T]`` the table's ``class_id`` column.
        units: ``[K]`` the units to count.

    Returns:
        ``(unit, class_id, count)``, one entry per unit and class with at
        least one track inside, sorted by unit (in the order of ``units``)
        then class id.
    """
    out_unit = np.empty(len(ids), np.intp)
    out_class = np.empty(len(ids), np.int64)
    out_count = np.empty(len(ids), np.int64)
    n = 0
    for u in units:
        lo = np.searchsorted(ids, np.int64(u) << KEY_SHIFT)
        hi = np.searchsorted(ids, np.int64(u + 1) << KEY_SHIFT)
        classes = np.sort(class_id[lo:hi][inside[lo:hi]].astype(np.int64))
        for k in range(len(classes)):
            if k > 0 and classes[k] == classes[k - 1]:
                out_count[n - 1] += 1
            else:
                out_unit[n], out_class[n], out_count[n] = u, classes[k], 1
                n += 1
    return out_unit[:n], out_class[:n], out_count[:n]
