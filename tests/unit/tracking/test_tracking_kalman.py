"""Batched Kalman filter vs a per-track textbook reference."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from visionflow.tracking import KalmanFilterXYAH, xyah_to_xyxy, xyxy_to_xyah
from visionflow.tracking.kalman import BlockKalmanXYAH

F64 = npt.NDArray[np.float64]
WP, WV = 1.0 / 20, 1.0 / 160
F = np.eye(8) + np.eye(8, k=4)
H = np.eye(4, 8)


def _random_states(k: int, seed: int) -> tuple[F64, F64]:
    rng = np.random.default_rng(seed)
    mean = np.concatenate(
        [
            rng.uniform(0, 500, (k, 2)),
            rng.uniform(0.3, 2, (k, 1)),
            rng.uniform(20, 200, (k, 1)),
            rng.normal(0, 3, (k, 4)),
        ],
        axis=1,
    )
    a = rng.normal(size=(k, 8, 8))
    cov = a @ a.transpose(0, 2, 1) + 8 * np.eye(8)
    return mean, cov


def _ref_predict(x: F64, p: F64) -> tuple[F64, F64]:
    h = x[3]
    q = np.diag(np.square([WP * h, WP * h, 1e-2, WP * h, WV * h, WV * h, 1e-5, WV * h]))
    return F @ x, F @ p @ F.T + q


def _ref_update(x: F64, p: F64, z: F64) -> tuple[F64, F64]:
    h = x[3]
    r = np.diag(np.square([WP * h, WP * h, 1e-1, WP * h]))
    s = H @ p @ H.T + r
    k = p @ H.T @ np.linalg.inv(s)
    return x + k @ (z - H @ x), (np.eye(8) - k @ H) @ p


@pytest.mark.parametrize("k", [0, 1, 5, 33])
def test_predict_matches_per_track_reference(k: int) -> None:
    mean, cov = _random_states(k, seed=k)
    got_mean, got_cov = KalmanFilterXYAH().predict(mean, cov)
    for i in range(k):
        ref_mean, ref_cov = _ref_predict(mean[i], cov[i])
        np.testing.assert_allclose(got_mean[i], ref_mean, rtol=1e-12)
        np.testing.assert_allclose(got_cov[i], ref_cov, rtol=1e-10, atol=1e-10)
    assert got_mean.shape == (k, 8) and got_cov.shape == (k, 8, 8)


def test_predict_is_the_matrix_products_bit_for_bit() -> None:
    """Block sums give exactly ``F x`` and ``F P F^T`` (products by 0 and 1 are exact)."""
    mean, cov = _random_states(200, seed=9)
    kf = KalmanFilterXYAH()
    got_mean, got_cov = kf.predict(mean, cov)
    np.testing.assert_array_equal(got_mean, mean @ F.T)
    expected = F @ cov @ F.T
    diag = np.arange(8)
    q = np.square(np.stack([WP * mean[:, 3]] * 2 + [np.full(200, 1e-2), WP * mean[:, 3]], axis=1))
    qv = np.square(np.stack([WV * mean[:, 3]] * 2 + [np.full(200, 1e-5), WV * mean[:, 3]], axis=1))
    expected[:, diag, diag] += np.concatenate([q, qv], axis=1)
    np.testing.assert_array_equal(got_cov, expected)


@pytest.mark.parametrize("k", [0, 1, 5, 33])
def test_update_matches_per_track_reference(k: int) -> None:
    mean, cov = _random_states(k, seed=100 + k)
    z = mean[:, :4] + np.random.default_rng(k).normal(0, 5, (k, 4))
    got_mean, got_cov = KalmanFilterXYAH().update(mean, cov, z)
    for i in range(k):
        ref_mean, ref_cov = _ref_update(mean[i], cov[i], z[i])
        np.testing.assert_allclose(got_mean[i], ref_mean, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got_cov[i], ref_cov, rtol=1e-8, atol=1e-8)


def test_inputs_are_not_modified() -> None:
    mean, cov = _random_states(4, seed=7)
    mean0, cov0 = mean.copy(), cov.copy()
    kf = KalmanFilterXYAH()
    kf.predict(mean, cov)
    kf.update(mean, cov, mean[:, :4] + 1)
    np.testing.assert_array_equal(mean, mean0)
    np.testing.assert_array_equal(cov, cov0)


def test_initiate_hand_computed() -> None:
    mean, cov = KalmanFilterXYAH().initiate(np.array([[50.0, 60.0, 0.5, 100.0]]))
    np.testing.assert_array_equal(mean, [[50, 60, 0.5, 100, 0, 0, 0, 0]])
    # 2*h/20 = 10 px, 1e-2, 10*h/160 = 6.25 px/frame, 1e-5 (ByteTrack / DeepSORT)
    expected = np.diag([100.0, 100.0, 1e-4, 100.0, 39.0625, 39.0625, 1e-10, 39.0625])
    np.testing.assert_allclose(cov[0], expected, rtol=1e-12)


def test_constant_velocity_is_learned() -> None:
    kf = KalmanFilterXYAH()
    mean, cov = kf.initiate(np.array([[100.0, 100.0, 0.5, 80.0]]))
    for t in range(1, 40):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean, cov, np.array([[100.0 + 4 * t, 100.0 - 2 * t, 0.5, 80.0]]))
    np.testing.assert_allclose(mean[0, 4:6], [4.0, -2.0], atol=0.05)


@pytest.mark.parametrize(
    ("xyxy", "xyah"),
    [
        ([0, 0, 10, 20], [5, 10, 0.5, 20]),
        ([10, 20, 50, 40], [30, 30, 2.0, 20]),
        ([-4, -4, 4, 4], [0, 0, 1.0, 8]),
    ],
)
def test_box_conversions_round_trip(xyxy: list[float], xyah: list[float]) -> None:
    np.testing.assert_allclose(xyxy_to_xyah([xyxy]), [xyah])
    np.testing.assert_allclose(xyah_to_xyxy([xyah]), [xyxy])


@pytest.mark.parametrize("seed", range(5))
def test_block_filter_follows_the_dense_filter(seed: int) -> None:
    """Tracks started by initiate and moved by predict / update (the only covariances a
    tracker has): the [K, 3, 4] blocks give the dense filter's means and covariances,
    to the last bits, over 60 frames of random motion, misses and re-detections."""
    rng = np.random.default_rng(seed)
    dense, block = KalmanFilterXYAH(), BlockKalmanXYAH()
    z0 = np.column_stack(
        [
            rng.uniform(0, 1920, 40),
            rng.uniform(0, 1080, 40),
            rng.uniform(0.3, 0.7, 40),
            rng.uniform(20, 300, 40),
        ]
    )
    mean_d, cov_d = dense.initiate(z0)
    mean_b, cov_b = block.initiate(z0)
    np.testing.assert_array_equal(BlockKalmanXYAH.dense(cov_b), cov_d)
    for _ in range(60):
        mean_d, cov_d = dense.predict(mean_d, cov_d)
        mean_b, cov_b = block.predict(mean_b, cov_b)
        seen = rng.random(40) > 0.3
        z = mean_d[seen, :4] + rng.normal(0, 3, (int(seen.sum()), 4)) * [1, 1, 0.01, 1]
        mean_d[seen], cov_d[seen] = dense.update(mean_d[seen], cov_d[seen], z)
        mean_b[seen], cov_b[seen] = block.update(mean_b[seen], cov_b[seen], z)
        np.testing.assert_allclose(mean_b, mean_d, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(BlockKalmanXYAH.dense(cov_b), cov_d, rtol=1e-12, atol=1e-12)
    # the dense filter's own off-block entries stay exactly zero: nothing is lost
    off_block = BlockKalmanXYAH.dense(np.ones((1, 3, 4)))[0] == 0
    assert not cov_d[:, off_block].any()
