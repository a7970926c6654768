"""Constant-velocity Kalman filter over many tracks at once.

State per track (8-dim, the DeepSORT / ByteTrack parametrisation)::

    [cx, cy, a, h, vcx, vcy, va, vh]

``cx, cy`` is the box centre in pixels, ``a = w / h`` the aspect ratio
(unitless), ``h`` the height in pixels, and the ``v*`` their velocities per
frame. Process and measurement noise are proportional to the current height
(1/20 of ``h`` for positions, 1/160 of ``h`` for velocities), so the filter
behaves the same for near and far objects.

Every function takes the state of ``K`` tracks as ``mean [K, 8]`` and
``cov [K, 8, 8]`` (float64) and processes all of them in a handful of batched
NumPy calls: there is no Python loop over tracks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64Array = npt.NDArray[np.float64]

STATE_DIM = 8
MEASUREMENT_DIM = 4
_EPS_PX = 1e-6


def xyxy_to_xyah(xyxy: npt.ArrayLike) -> F64Array:
    """Convert corner boxes to Kalman measurements.

    Args:
        xyxy: ``[K, 4]`` boxes ``x1, y1, x2, y2`` in pixels.

    Returns:
        ``[K, 4]`` float64 ``cx, cy, a, h`` (centre px, aspect w/h, height px).
        Heights are clipped to a tiny positive value so ``a`` stays finite.
    """
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = boxes.T
    out = np.empty((len(boxes), 4))
    h = np.maximum(y2 - y1, _EPS_PX, out=out[:, 3])
    np.divide(x2 - x1, h, out=out[:, 2])
    np.divide(x1 + x2, 2, out=out[:, 0])
    np.divide(y1 + y2, 2, out=out[:, 1])
    return out


def xyah_to_xyxy(xyah: npt.ArrayLike) -> F64Array:
    """Convert ``[K, 4]`` ``cx, cy, a, h`` back to ``[K, 4]`` ``x1, y1, x2, y2`` pixels."""
    state = np.asarray(xyah, np.float64).reshape(-1, 4)
    cx, cy, a, h = state.T
    half_w = a * h / 2
    half_h = h / 2
    out = np.empty((len(state), 4))
    np.subtract(cx, half_w, out=out[:, 0])
    np.subtract(cy, half_h, out=out[:, 1])
    np.add(cx, half_w, out=out[:, 2])
    np.add(cy, half_h, out=out[:, 3])
    return out


class _HeightScaledNoise:
    """The noise model both filters share.

    Args:
        std_weight_position: position noise std as a fraction of the box
            height (ByteTrack: 1/20).
        std_weight_velocity: velocity noise std as a fraction of the box
            height per frame (ByteTrack: 1/160).

    The aspect ratio gets fixed, small noise (``1e-2`` position, ``1e-5``
    velocity, ``1e-1`` measurement) because it is unitless and changes slowly.
    """

    def __init__(
        self, std_weight_position: float = 1.0 / 20, std_weight_velocity: float = 1.0 / 160
    ) -> None:
        self.std_weight_position = std_weight_position
        self.std_weight_velocity = std_weight_velocity

    def _stds(self, h: F64Array, weight: float, aspect_std: float) -> F64Array:
        """``[K, 4]`` per-track stds ``weight*h, weight*h, aspect_std, weight*h``."""
        out = np.empty((len(h), MEASUREMENT_DIM))
        np.multiply(weight, h[:, None], out=out)
        out[:, 2] = aspect_std
        return out


class KalmanFilterXYAH(_HeightScaledNoise):
    """Batched constant-velocity Kalman filter in ``(cx, cy, a, h)`` space, any
    ``[K, 8, 8]`` covariances (see :class:`_HeightScaledNoise` for the noise)."""

    def __init__(
        self, std_weight_position: float = 1.0 / 20, std_weight_velocity: float = 1.0 / 160
    ) -> None:
        super().__init__(std_weight_position, std_weight_velocity)
        self._motion = np.eye(STATE_DIM)
        self._motion[:MEASUREMENT_DIM, MEASUREMENT_DIM:] = np.eye(MEASUREMENT_DIM)

    @property
    def motion_matrix(self) -> F64Array:
        """``[8, 8]`` state transition for one frame (copy)."""
        return self._motion.copy()

    def initiate(self, measurements: npt.ArrayLike) -> tuple[F64Array, F64Array]:
        """Start tracks from unassociated measurements.

        Args:
            measurements: ``[K, 4]`` ``cx, cy, a, h`` (see :func:`xyxy_to_xyah`).

        Returns:
            ``mean [K, 8]`` (zero velocities) and ``cov [K, 8, 8]`` (diagonal).
        """
        z = np.asarray(measurements, np.float64).reshape(-1, MEASUREMENT_DIM)
        mean = np.concatenate([z, np.zeros_like(z)], axis=1)
        h = z[:, 3]
        # The reference scales only the height-relative terms (2x, 10x); the
        # aspect-ratio terms stay at their fixed 1e-2 / 1e-5.
        std_pos = self._stds(h, 2 * self.std_weight_position, 1e-2)
        std_vel = self._stds(h, 10 * self.std_weight_velocity, 1e-5)
        variances = np.concatenate([std_pos, std_vel], axis=1) ** 2
        cov = np.zeros((len(z), STATE_DIM, STATE_DIM))
        diag = np.arange(STATE_DIM)
        cov[:, diag, diag] = variances
        return mean, cov

    def predict(self, mean: F64Array, cov: F64Array) -> tuple[F64Array, F64Array]:
        """Advance every track by one frame.

        Args:
            mean: ``[K, 8]`` state means.
            cov: ``[K, 8, 8]`` state covariances.

        Returns:
            New ``(mean, cov)``; the inputs are not modified. Process noise is
            scaled by each track's height before the step.
        """
        h = mean[:, 3]
        std_pos = self._stds(h, self.std_weight_position, 1e-2)
        std_vel = self._stds(h, self.std_weight_velocity, 1e-5)
        process_var = np.concatenate([std_pos, std_vel], axis=1) ** 2
        # F = [[I, I], [0, I]]: F x and F P F^T are sums of 4-blocks. Same
        # values as the matmuls (the products by 0 and 1 are exact), without
        # K small matrix products.
        d = MEASUREMENT_DIM
        new_mean = mean.copy()
        new_mean[:, :d] += mean[:, d:]
        new_cov = cov.copy()
        new_cov[:, :d] += cov[:, d:]
        new_cov[:, :, :d] += new_cov[:, :, d:]
        diag = np.arange(STATE_DIM)
        new_cov[:, diag, diag] += process_var
        return new_mean, new_cov

    def project(self, mean: F64Array, cov: F64Array) -> tuple[F64Array, F64Array]:
        """Project states to measurement space.

        Returns:
            ``mean [K, 4]`` and innovation covariance ``cov [K, 4, 4]``
            (state covariance plus measurement noise).
        """
        measurement_var = self._stds(mean[:, 3], self.std_weight_position, 1e-1) ** 2
        proj_cov = cov[:, :MEASUREMENT_DIM, :MEASUREMENT_DIM].copy()
        diag = np.arange(MEASUREMENT_DIM)
        proj_cov[:, diag, diag] += measurement_var
        return mean[:, :MEASUREMENT_DIM].copy(), proj_cov

    def update(
        self, mean: F64Array, cov: F64Array, measurements: npt.ArrayLike
    ) -> tuple[F64Array, F64Array]:
        """Correct every track with its associated measurement.

        Args:
            mean: ``[K, 8]`` predicted means.
            cov: ``[K, 8, 8]`` predicted covariances.
            measurements: ``[K, 4]`` ``cx, cy, a, h``; row ``k`` belongs to track ``k``.

        Returns:
            Corrected ``(mean [K, 8], cov [K, 8, 8])``; inputs are not modified.
        """
        z = np.asarray(measurements, np.float64).reshape(-1, MEASUREMENT_DIM)
        proj_mean, proj_cov = self.project(mean, cov)
        # The measurement matrix selects the first 4 state entries, so
        # P H^T is a column slice; S is symmetric, so K^T = S^-1 (H P).
        gain = np.linalg.solve(proj_cov, cov[:, :MEASUREMENT_DIM, :]).transpose(0, 2, 1)
        innovation = z - proj_mean
        new_mean = mean + np.einsum("kij,kj->ki", gain, innovation)
        new_cov = cov - gain @ proj_cov @ gain.transpose(0, 2, 1)
        return new_mean, new_cov


COV_BLOCKS_SHAPE = (3, MEASUREMENT_DIM)
"""Per-track shape of :class:`BlockKalmanXYAH`'s covariances: rows ``pp, pv, vv``."""


class BlockKalmanXYAH(_HeightScaledNoise):
    """:class:`KalmanFilterXYAH` for the covariances trackers actually have.

    Started by :meth:`initiate` (diagonal) and moved only by :meth:`predict`
    and :meth:`update`, a covariance couples each of ``cx, cy, a, h`` with its
    own velocity and nothing else: the motion matrix pairs them, and the noises
    are diagonal. So it is kept as ``cov [K, 3, 4]``: per coordinate the
    position variance (row 0), the position-velocity covariance (row 1) and
    the velocity variance (row 2). Every step is then a few ``[K, 4]``
    element-wise operations, with no 8x8 products and no linear solve: the
    same arithmetic as the dense filter on those matrices (its zeros drop out),
    up to the rounding of the last bit.
    """

    def initiate(self, measurements: npt.ArrayLike) -> tuple[F64Array, F64Array]:
        """Start tracks: ``mean [K, 8]`` (zero velocities), ``cov [K, 3, 4]``."""
        z = np.asarray(measurements, np.float64).reshape(-1, MEASUREMENT_DIM)
        h = z[:, 3]
        cov = np.zeros((len(z), *COV_BLOCKS_SHAPE))
        cov[:, 0] = self._stds(h, 2 * self.std_weight_position, 1e-2) ** 2
        cov[:, 2] = self._stds(h, 10 * self.std_weight_velocity, 1e-5) ** 2
        return np.concatenate([z, np.zeros_like(z)], axis=1), cov

    def predict(self, mean: F64Array, cov: F64Array) -> tuple[F64Array, F64Array]:
        """Advance every track by one frame (inputs unchanged)."""
        h = mean[:, 3]
        d = MEASUREMENT_DIM
        new_mean = mean.copy()
        new_mean[:, :d] += mean[:, d:]
        pp, pv, vv = cov[:, 0], cov[:, 1], cov[:, 2]
        new_cov = np.empty_like(cov)
        new_cov[:, 0] = (pp + pv) + (pv + vv) + self._stds(h, self.std_weight_position, 1e-2) ** 2
        new_cov[:, 1] = pv + vv
        new_cov[:, 2] = vv + self._stds(h, self.std_weight_velocity, 1e-5) ** 2
        return new_mean, new_cov

    def project(self, mean: F64Array, cov: F64Array) -> tuple[F64Array, F64Array]:
        """``mean [K, 4]`` and the innovation variances ``[K, 4]`` (diagonal of S)."""
        measurement_var = self._stds(mean[:, 3], self.std_weight_position, 1e-1) ** 2
        return mean[:, :MEASUREMENT_DIM].copy(), cov[:, 0] + measurement_var

    def update(
        self, mean: F64Array, cov: F64Array, measurements: npt.ArrayLike
    ) -> tuple[F64Array, F64Array]:
        """Correct every track with its measurement (row ``k`` for track ``k``)."""
        z = np.asarray(measurements, np.float64).reshape(-1, MEASUREMENT_DIM)
        proj_mean, s = self.project(mean, cov)
        gain_pos, gain_vel = cov[:, 0] / s, cov[:, 1] / s
        innovation = z - proj_mean
        d = MEASUREMENT_DIM
        new_mean = np.empty_like(mean)
        new_mean[:, :d] = mean[:, :d] + gain_pos * innovation
        new_mean[:, d:] = mean[:, d:] + gain_vel * innovation
        gs = gain_pos * s
        new_cov = np.empty_like(cov)
        new_cov[:, 0] = cov[:, 0] - gs * gain_pos
        new_cov[:, 1] = cov[:, 1] - gs * gain_vel
        new_cov[:, 2] = cov[:, 2] - (gain_vel * s) * gain_vel
        return new_mean, new_cov

    @staticmethod
    def dense(cov: F64Array) -> F64Array:
        """``[K, 8, 8]`` covariances of ``[K, 3, 4]`` blocks (to compare or inspect)."""
        out = np.zeros((len(cov), STATE_DIM, STATE_DIM))
        i = np.arange(MEASUREMENT_DIM)
        out[:, i, i] = cov[:, 0]
        out[:, i, i + MEASUREMENT_DIM] = out[:, i + MEASUREMENT_DIM, i] = cov[:, 1]
        out[:, i + MEASUREMENT_DIM, i + MEASUREMENT_DIM] = cov[:, 2]
        return out
