"""YOLO decoding and batched class-aware NMS on the device (imports torch).

The same function as :func:`visionflow.inference.postprocess` (same scores,
thresholds, candidate cap, letterbox mapping, exact greedy NMS per image and
class, per-image cap), written as a fixed handful of tensor operations per
batch: no Python loop over images, classes or boxes, and no torchvision.
Only the final rows ``[K, 7]`` (``x1, y1, x2, y2, score, class, slot``) come
to the host, in one copy.

Up to :data:`HOST_MAX_CANDIDATES` candidates (a full batch of 64 busy 1080p
frames gives about 500 at confidence 0.25) are finished on the host instead:
they come over in one copy and :func:`visionflow.inference.postprocess.finish`
(the CPU path's own code) suppresses them, about 0.3 ms of NumPy for 500 and
1.5 ms for 1 900. The device NMS is two dozen small kernels plus a host
round-trip per fixed-point round, each a point where the inference thread
gives up the GIL; under load (96+ live streams) that stage stretched to
3-8 ms per batch at p50 and 90-200 ms at p99, so the device NMS is kept for
the rare batches with more candidates (low thresholds, dense scenes).

Greedy NMS as a fixed point (see :mod:`visionflow.inference.nms`): box ``i``
is kept iff no kept box before it in its group overlaps it above the
threshold; iterating ``keep = ~any(over & keep)`` from all-kept converges in
as many rounds as the longest suppression chain (2-4 in practice), each
round one small ``[M, M]`` reduction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from visionflow.inference.postprocess import Candidates, Layout, PostprocessConfig, finish
from visionflow.inference.preprocess import LetterboxGeometry
from visionflow.types import Detections

HOST_MAX_CANDIDATES = 2048
"""Candidates up to which :class:`DevicePostprocessor` finishes on the host."""

STATIC_ROWS_PER_FRAME = 256
"""Candidate rows per frame (up to :data:`HOST_MAX_CANDIDATES`) that the host finish
gathers before it knows how many passed: one copy brings the rows and their count,
instead of a copy of the count (a wait for the GPU) and then one of the rows. A batch
with more candidates than that takes the second copy after all."""

_COLUMNS = 7
"""Columns of a gathered candidate row: ``x, y, w, h, score, class, slot``."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _GatherGraph:
    """The candidate gather captured on one static model output (a CUDA graph's)."""

    graph: torch.cuda.CUDAGraph
    source: torch.Tensor
    """The model output the graph reads: ``[B, ...]``, a batch is a prefix of it."""
    gathered: torch.Tensor
    """What a replay writes: :meth:`DevicePostprocessor._gathered` of ``source``."""
    rows: int
    """Candidate rows gathered before the per-slot counts."""

    def fits(self, raw: torch.Tensor) -> bool:
        """Whether ``raw`` is the first slots of :attr:`source` (what a replay reads)."""
        return (
            raw.data_ptr() == self.source.data_ptr()
            and raw.shape[1:] == self.source.shape[1:]
            and raw.stride() == self.source.stride()
            and len(raw) <= len(self.source)
        )


class DevicePostprocessor:
    """Decode + NMS on the device for one model.

    Args:
        layout: ``yolov5`` (``[B, N, 5+C]``) or ``yolov8`` (``[B, 4+C, N]``).
        num_classes: ``C``.
        config: thresholds, as for the CPU path.
        device: where the raw output lives.
        host_max_candidates: finish on the host when at most this many
            candidates pass the thresholds (0: always on the device).
    """

    def __init__(
        self,
        layout: Layout,
        num_classes: int,
        config: PostprocessConfig,
        device: torch.device,
        host_max_candidates: int = HOST_MAX_CANDIDATES,
    ) -> None:
        self.layout, self.num_classes, self.config, self.device = (
            layout,
            num_classes,
            config,
            device,
        )
        self.host_max_candidates = host_max_candidates
        self._unsized = True  # torch.nonzero_static runs on this device (see _finish_unsized)
        self._graphs: dict[int, _GatherGraph] = {}  # by the data_ptr of the output they read
        self._slot_columns: dict[int, torch.Tensor] = {}
        self._class_allowed: torch.Tensor | None = None
        if config.class_ids is not None:
            allowed = torch.zeros(num_classes, dtype=torch.bool)
            allowed[[c for c in config.class_ids if 0 <= c < num_classes]] = True
            self._class_allowed = allowed.to(device)

    def __call__(self, raw: torch.Tensor, geometry: LetterboxGeometry) -> Detections:
        """Raw batch output -> detections in source pixels (one device->host copy).

        Sorted by batch slot, then descending confidence, like the CPU path.
        A ``raw`` that is the first slots of an output :meth:`capture` took is
        gathered by one graph replay instead of a dozen kernel launches.
        """
        graph = self._graphs.get(raw.data_ptr()) if self._graphs else None
        if graph is not None and self.host_max_candidates > 0 and graph.fits(raw):
            graph.graph.replay()
            host = graph.gathered.cpu().numpy()
            found = self._from_gathered(host, len(raw), graph.rows, geometry)
            return found if found is not None else self._finish_counted(raw, geometry)
        if self.host_max_candidates > 0 and self._unsized:
            found = self._finish_unsized(raw, geometry)
            if found is not None:
                return found
        return self._finish_counted(raw, geometry)

    def capture(self, raw: torch.Tensor) -> bool:
        """Capture the host finish's candidate gather on ``raw`` (a static model output,
        e.g. a CUDA graph's) as a CUDA graph, for :meth:`__call__` on its first slots.

        Capture before any decoder works on the GPU (work from other threads can
        invalidate a capture). Returns False (calls launch the kernels as before)
        when the host never finishes, off CUDA, on torch without a CUDA
        ``nonzero_static``, or when the capture fails.
        """
        if self.host_max_candidates <= 0 or raw.device.type != "cuda" or not self._unsized:
            return False
        rows = self._static_rows(len(raw))
        with torch.inference_mode():
            try:
                self._gathered(raw, rows)  # allocates and loads the kernels outside the capture
            except NotImplementedError:  # torch < 2.6 has no CUDA nonzero_static
                self._unsized = False
                return False
            torch.cuda.synchronize(raw.device)
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                    gathered = self._gathered(raw, rows)
            except RuntimeError as exc:
                logger.warning(
                    "post-processing CUDA graph for %d frames not captured: %s", len(raw), exc
                )
                return False
        self._graphs[raw.data_ptr()] = _GatherGraph(graph, raw, gathered, rows)
        return True

    def _finish_unsized(self, raw: torch.Tensor, geometry: LetterboxGeometry) -> Detections | None:
        """The host finish with one copy (:meth:`_gathered`); ``None`` when more passed
        than the rows gathered."""
        rows = self._static_rows(len(raw))
        try:
            gathered = self._gathered(raw, rows)
        except NotImplementedError:  # torch < 2.6 has no CUDA nonzero_static: two copies
            self._unsized = False
            return None
        return self._from_gathered(gathered.cpu().numpy(), len(raw), rows, geometry)

    def _finish_counted(self, raw: torch.Tensor, geometry: LetterboxGeometry) -> Detections:
        """Count the candidates first (a wait for the GPU), then finish on the host
        (up to :attr:`host_max_candidates`) or on the device."""
        xywh, score, class_id = self._decode(raw)
        flat = self._passed(score, class_id).reshape(-1).nonzero().squeeze(1)
        if len(flat) <= self.host_max_candidates:
            host = self._packed(flat, xywh, score, class_id).cpu().numpy()
            return self._finish_on_host(host, geometry)
        slot, xywh, score, class_id = self._top(flat, xywh, score, class_id)
        rows = self._rows(slot, xywh, score, class_id, geometry).cpu().numpy()
        return Detections(
            rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int32), rows[:, 6].astype(np.int32)
        )

    def _static_rows(self, frames: int) -> int:
        return min(self.host_max_candidates, STATIC_ROWS_PER_FRAME * frames)

    def _gathered(self, raw: torch.Tensor, rows: int) -> torch.Tensor:
        """``[rows + ceil(B / 7), 7]`` float32 on the device: the first ``rows`` candidate
        rows (:meth:`_packed`, slot-major, zero-filled past the last), then how many
        candidates each slot has, 7 slots a row. Fixed shapes, no wait for the GPU."""
        xywh, score, class_id = self._decode(raw)
        passed = self._passed(score, class_id)
        flat = torch.nonzero_static(passed.reshape(-1), size=rows, fill_value=0).squeeze(1)
        counts = passed.sum(dim=1, dtype=torch.float32)  # exact below 2**24
        counts = torch.nn.functional.pad(counts, (0, -len(counts) % _COLUMNS))
        return torch.cat([self._packed(flat, xywh, score, class_id), counts.view(-1, _COLUMNS)])

    def _from_gathered(
        self, host: npt.NDArray[np.float32], frames: int, rows: int, geometry: LetterboxGeometry
    ) -> Detections | None:
        """Detections of the first ``frames`` slots from a :meth:`_gathered` copy, or
        ``None`` when they have more candidates than its ``rows``. Slots past
        ``frames`` (a partly filled graph bucket) come last in the rows and are cut."""
        per_slot = host[rows:].reshape(-1)[:frames]
        found = int(per_slot.astype(np.int64).sum())
        return self._finish_on_host(host[:found], geometry) if found <= rows else None

    def _packed(
        self, flat: torch.Tensor, xywh: torch.Tensor, score: torch.Tensor, class_id: torch.Tensor
    ) -> torch.Tensor:
        """``[len(flat), 7]`` float32 rows ``x, y, w, h, score, class, slot`` of the anchors
        at ``flat`` (row-major ``slot * N + anchor``), on the device."""
        batch, anchors = score.shape
        columns = (xywh, score[..., None], class_id[..., None].float(), self._slots(batch, anchors))
        return torch.cat(columns, dim=2).reshape(-1, _COLUMNS)[flat]

    def _finish_on_host(
        self, host: npt.NDArray[np.float32], geometry: LetterboxGeometry
    ) -> Detections:
        """Candidate rows (:meth:`_packed`, on the host) finished by the CPU path's
        :func:`finish`, which also takes their top-k."""
        found = Candidates(
            host[:, 6].astype(np.intp), host[:, :4], host[:, 4], host[:, 5].astype(np.intp)
        )
        return finish(found, geometry, num_classes=self.num_classes, config=self.config)

    def _slots(self, batch: int, anchors: int) -> torch.Tensor:
        """``[batch, anchors, 1]`` float32 slot numbers (a broadcast view, cached)."""
        column = self._slot_columns.get(batch)
        if column is None:
            column = torch.arange(batch, dtype=torch.float32, device=self.device)
            self._slot_columns[batch] = column
        return column.view(batch, 1, 1).expand(batch, anchors, 1)

    def _rows(
        self,
        slot: torch.Tensor,
        xywh: torch.Tensor,
        score: torch.Tensor,
        class_id: torch.Tensor,
        geometry: LetterboxGeometry,
    ) -> torch.Tensor:
        """The kept detections as ``[K, 7]`` float32 on the device, sorted by slot, -score."""
        xyxy = self._to_source(_xywh_to_xyxy(xywh), slot, geometry)
        kept = _batched_nms(xyxy, score, slot * self.num_classes + class_id, self.config.nms_iou)
        order = torch.sort(-score[kept], stable=True).indices
        kept = kept[order[torch.sort(slot[kept][order], stable=True).indices]]
        kept = kept[_group_ranks(slot[kept]) < self.config.max_detections]
        fields = (score[kept][:, None], class_id[kept][:, None], slot[kept][:, None])
        return torch.cat([xyxy[kept], *(f.float() for f in fields)], dim=1)

    def _candidates(
        self, raw: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Slot, ``xywh``, score and class of the top-k candidates, by descending score."""
        xywh, score, class_id = self._decode(raw)
        flat = self._passed(score, class_id).reshape(-1).nonzero().squeeze(1)
        return self._top(flat, xywh, score, class_id)

    def _decode(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``xywh [B, N, 4]`` (float32), score and best class ``[B, N]`` of every anchor."""
        # The class maximum in the model's dtype, converted after: the same values as
        # converting first (exact, order-keeping), without a float32 copy of every score.
        if self.layout == "yolov5":
            best, class_id = raw[..., 5 : 5 + self.num_classes].max(dim=2)
            return raw[..., :4].float(), raw[..., 4].float() * best.float(), class_id
        raw = raw.transpose(1, 2)
        score, class_id = raw[..., 4 : 4 + self.num_classes].max(dim=2)
        return raw[..., :4].float(), score.float(), class_id

    def _passed(self, score: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` bool: the anchors above the confidence, of an allowed class."""
        passed = score > self.config.confidence
        if self._class_allowed is not None:
            passed &= self._class_allowed[class_id]
        return passed

    def _top(
        self, flat: torch.Tensor, xywh: torch.Tensor, score: torch.Tensor, class_id: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The candidates at ``flat`` (row-major ``slot * N + anchor``), top-k by score."""
        anchors = score.shape[1]
        slot, index = flat // anchors, flat % anchors
        found = score[slot, index]
        top = torch.sort(-found, stable=True).indices[: self.config.max_candidates]
        slot, index = slot[top], index[top]
        return slot, xywh[slot, index], found[top], class_id[slot, index]

    def _to_source(
        self, xyxy: torch.Tensor, slot: torch.Tensor, geometry: LetterboxGeometry
    ) -> torch.Tensor:
        table = np.concatenate(
            [geometry.scale[:, None], geometry.pad_xy, geometry.source_wh], axis=1
        ).astype(np.float32)
        geo = torch.from_numpy(table).to(self.device, non_blocking=True)[slot]
        pad, scale, limit = geo[:, 1:3].repeat(1, 2), geo[:, :1], geo[:, 3:5].repeat(1, 2)
        out = (xyxy - pad) / scale
        return torch.minimum(out.clamp_(min=0.0), limit)


def _xywh_to_xyxy(xywh: torch.Tensor) -> torch.Tensor:
    half = xywh[:, 2:] / 2
    return torch.cat([xywh[:, :2] - half, xywh[:, :2] + half], dim=1)


def _group_ranks(sorted_groups: torch.Tensor) -> torch.Tensor:
    """0-based position of each element within its run of equal (contiguous) ids."""
    starts = torch.searchsorted(sorted_groups, sorted_groups, right=False)
    return torch.arange(len(sorted_groups), device=sorted_groups.device) - starts


def _batched_nms(
    xyxy: torch.Tensor, score: torch.Tensor, group: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Exact greedy NMS within each group; returns kept indices (any order)."""
    if len(score) == 0:
        return torch.zeros(0, dtype=torch.long, device=score.device)
    order = torch.sort(-score, stable=True).indices
    order = order[torch.sort(group[order], stable=True).indices]
    boxes, groups = xyxy[order], group[order]
    over = _pair_iou(boxes) > iou_threshold
    over &= groups[:, None] == groups[None, :]
    over.triu_(diagonal=1)
    keep = torch.ones(len(order), dtype=torch.bool, device=score.device)
    for _ in range(len(order) + 1):
        hit = (over & keep[:, None]).any(dim=0)
        if torch.equal(~hit, keep):
            break
        keep = ~hit
    return order[keep]


def _pair_iou(boxes: torch.Tensor) -> torch.Tensor:
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp_(min=0).prod(dim=2)
    area = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(dim=1)
    union = area[:, None] + area[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))
