"""GPU video decoding with NVDEC (PyNvVideoCodec): frames stay in device memory.

:class:`NvdecDecoder` demuxes a file with PyNvVideoCodec's demuxer, decodes on
an NVDEC engine into device memory and hands each picture to torch through
DLPack (no host copy): an NV12 ``[H * 3 // 2, W]`` uint8 CUDA tensor, luma
rows then interleaved UV rows. Each picture is copied once on the device
(decoder surfaces are recycled by the next ``Decode`` call), on a CUDA stream
of its own, so decode threads never serialise on the default stream.

:func:`nvdec_support` says whether a file can be decoded here and why not;
the GPU file source uses it to fall back to the CPU decoder per stream.

PyNvVideoCodec and torch are imported on first use; without them
:class:`~visionflow.errors.MissingDependencyError` carries the install hint.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from visionflow.errors import MissingDependencyError, SourceNotFoundError, SourceOpenError

logger = logging.getLogger(__name__)

GPU_HINT = "pip install 'visionflow[gpu]'"
SUPPORTED_CODECS = ("H264", "HEVC", "AV1", "VP9")
"""Codecs this module asks NVDEC for (whether the GPU has each is checked per file)."""

_lock = threading.Lock()


def require_nvc() -> ModuleType:
    """Import PyNvVideoCodec.

    Raises:
        MissingDependencyError: not installed, or it cannot load (no NVIDIA driver).
    """
    try:
        return importlib.import_module("PyNvVideoCodec")
    except Exception as exc:  # ImportError, or RuntimeError from its driver check
        raise MissingDependencyError(
            f"NVDEC decoding needs PyNvVideoCodec and an NVIDIA driver ({exc}): {GPU_HINT}"
        ) from exc


@dataclass(frozen=True, slots=True)
class NvdecFrame:
    """One decoded picture on the device.

    Attributes:
        pts_seconds: presentation time in seconds (``None`` when unknown).
        nv12: ``[H * 3 // 2, W]`` uint8 CUDA tensor, written on the decoder's stream.
        ready: CUDA event recorded after the copy (``None`` when the decoder
            synchronised already); see :meth:`consume`.
    """

    pts_seconds: float | None
    nv12: Any
    ready: Any = None

    def consume(self) -> Any:
        """The NV12 tensor, safe to use on the calling thread's current stream.

        Makes the current stream wait for the copy (no host wait) and tells
        the caching allocator the tensor is used there, so its memory is not
        recycled by the decoder's stream too early.
        """
        if self.ready is not None:
            import torch

            stream = torch.cuda.current_stream(self.nv12.device)
            stream.wait_event(self.ready)
            self.nv12.record_stream(stream)
        return self.nv12


def nvdec_support(path: str | os.PathLike[str], gpu_id: int = 0) -> str | None:
    """``None`` when NVDEC can decode ``path`` here, else the reason it cannot."""
    try:
        nvc = require_nvc()
        demuxer = nvc.CreateDemuxer(filename=str(path))
        codec = str(demuxer.GetNvCodecId()).rsplit(".", 1)[-1]
        if codec not in SUPPORTED_CODECS:
            return f"codec {codec} is not one of {list(SUPPORTED_CODECS)}"
        caps = _decoder_caps(nvc, gpu_id, demuxer)
        if not caps.get("supported", True):
            return f"this GPU's NVDEC has no {codec} decoder for this chroma format/bit depth"
        if demuxer.BitDepth() != 8:
            return f"{demuxer.BitDepth()}-bit video (only 8-bit NV12 is handled on the GPU)"
    except MissingDependencyError as exc:
        return str(exc)
    except Exception as exc:  # the demuxer raises plain exceptions on unknown containers
        return f"PyNvVideoCodec cannot open it: {exc}"
    return None


_caps_cache: dict[tuple[int, str, str, int], dict[str, Any]] = {}


def _decoder_caps(nvc: ModuleType, gpu_id: int, demuxer: Any) -> dict[str, Any]:
    """NVDEC's capabilities for the demuxer's codec and format, asked once per process.

    ``GetDecoderCaps`` takes ~0.2 s a call: 64 streams of one codec used to
    spend 10 s of their start-up in it.
    """
    key = (gpu_id, str(demuxer.GetNvCodecId()), str(demuxer.ChromaFormat()), demuxer.BitDepth())
    with _lock:
        caps = _caps_cache.get(key)
        if caps is None:
            caps = _caps_cache[key] = nvc.GetDecoderCaps(
                gpuid=gpu_id,
                codec=demuxer.GetNvCodecId(),
                chromaformat=demuxer.ChromaFormat(),
                bitdepth=demuxer.BitDepth(),
            )
    return caps


class NvdecDecoder:
    """Decode the video stream of a file on NVDEC into device NV12 tensors.

    Not thread-safe: one thread iterates (each decoder has its own CUDA stream).

    Two ways to drive NVDEC, with the same frames out:

    * per packet (default): this thread demuxes and calls ``Decode`` per packet;
    * ``threaded``: PyNvVideoCodec's ``ThreadedDecoder`` demuxes and decodes on
      a native thread of its own, ``prefetch_frames`` ahead, and this thread
      takes the pictures ``batch_frames`` at a time, copying each batch in one
      kernel. Far less Python (and GIL) per picture: the mode for many streams.

    Args:
        path: media file (MP4/MKV/... with H.264, HEVC, AV1 or VP9).
        gpu_id: CUDA device index.
        synchronize: wait on the host until each picture's copy is done, so
            the tensors can be used anywhere at once. ``False`` (faster: no
            host wait per packet) hands out a CUDA event per picture instead:
            call :meth:`NvdecFrame.consume` on the consuming thread.
        threaded: decode on PyNvVideoCodec's native thread (see above).
        batch_frames: pictures taken per call in threaded mode; the frames of a
            call share one device allocation (freed when the last is dropped).
        prefetch_frames: pictures the native thread decodes ahead (threaded mode).

    Raises:
        SourceNotFoundError: ``path`` does not exist.
        SourceOpenError: PyNvVideoCodec cannot open or decode it.
        MissingDependencyError: PyNvVideoCodec or torch is missing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        gpu_id: int = 0,
        *,
        synchronize: bool = True,
        threaded: bool = False,
        batch_frames: int = 4,
        prefetch_frames: int = 8,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceNotFoundError(f"path={str(path)!r} does not exist or is not a file")
        self._nvc = require_nvc()
        self._torch = _require_torch()
        self.device = self._torch.device("cuda", gpu_id)
        self._stream = self._torch.cuda.Stream(self.device)
        self._decoder: Any = None
        self._threaded: Any = None
        self.batch_frames = max(1, min(batch_frames, prefetch_frames))
        try:
            self._demuxer = self._nvc.CreateDemuxer(filename=str(self.path))
            if threaded:
                self._threaded = self._nvc.ThreadedDecoder(
                    str(self.path),
                    max(prefetch_frames, self.batch_frames),
                    gpu_id=gpu_id,
                    cuda_stream=self._stream.cuda_stream,
                    use_device_memory=True,
                )
            else:
                self._decoder = self._nvc.CreateDecoder(
                    gpuid=gpu_id,
                    codec=self._demuxer.GetNvCodecId(),
                    cudacontext=0,
                    cudastream=self._stream.cuda_stream,
                    usedevicememory=True,
                )
        except Exception as exc:
            raise SourceOpenError(f"{self.path}: NVDEC cannot open it: {exc}") from exc
        self.resolution_wh = (int(self._demuxer.Width()), int(self._demuxer.Height()))
        self.fps = float(self._demuxer.FrameRate())
        den = int(self._demuxer.GetTimebaseDen())
        self._time_base = int(self._demuxer.GetTimebaseNum()) / den if den else 0.0
        self.synchronize = synchronize
        self.frames_decoded = 0
        self._packets = iter(self._demuxer)

    @property
    def threaded(self) -> bool:
        """Whether PyNvVideoCodec's native thread decodes (see the class docs)."""
        return self._threaded is not None

    def frames(self) -> Iterator[NvdecFrame]:
        """Decoded pictures in display order, each a fresh device tensor."""
        while pictures := self.next_pictures():
            yield from pictures

    def next_pictures(self) -> list[NvdecFrame]:
        """The next decoded pictures, in display order; ``[]`` at the end of the file.

        Per packet: demuxes and decodes until a packet yields pictures. Threaded:
        takes up to ``batch_frames`` pictures, waiting (GIL released) while the
        native thread has none ready.
        """
        if self._threaded is not None:
            decoded = self._threaded.get_batch_frames(self.batch_frames)
            return self._wrap(decoded, self._torch.stack) if decoded else []
        for packet in self._packets:
            decoded = self._decoder.Decode(packet)
            if decoded:
                return self._wrap(decoded, self._clone_each)
        return []

    def rewind(self) -> None:
        """Start again from the beginning of the file, keeping the decoder session.

        A looped file then costs a new demuxer per pass, not a new NVDEC
        session: creating sessions for many streams at the same moment stalled
        every stream for a while (and made live stand-ins drop frames).
        """
        try:
            if self._threaded is not None:
                self._threaded.reconfigure_decoder(str(self.path), 0)
            else:
                self._demuxer = self._nvc.CreateDemuxer(filename=str(self.path))
                self._packets = iter(self._demuxer)
        except Exception as exc:
            raise SourceOpenError(f"{self.path}: cannot reopen it: {exc}") from exc

    def close(self) -> None:
        """Stop the native decoding thread (threaded mode); idempotent.

        Call it from the thread that iterates: ending the native thread while
        another thread waits in :meth:`next_pictures` is undefined.
        """
        threaded, self._threaded = self._threaded, None
        if threaded is not None:
            threaded.end()

    def _wrap(self, decoded: list[Any], copy: Any) -> list[NvdecFrame]:
        """Copy the decoder's pictures (its surfaces are recycled) and wrap them.

        ``copy`` is ``torch.stack`` (one kernel for all; the pictures share one
        allocation) or :meth:`_clone_each`.
        """
        th = self._torch
        with th.cuda.stream(self._stream):
            pictures = copy([th.from_dlpack(f) for f in decoded])
        ready = self._ready_event()
        width = self.resolution_wh[0]
        self.frames_decoded += len(decoded)
        return [
            NvdecFrame(self._pts(f), tensor.view(-1, width), ready)
            for f, tensor in zip(decoded, pictures, strict=True)
        ]

    @staticmethod
    def _clone_each(views: list[Any]) -> list[Any]:
        return [v.clone() for v in views]

    def _ready_event(self) -> Any:
        """``None`` after a host wait for the copies, else an event recorded after them."""
        if self.synchronize:
            self._stream.synchronize()  # the copies are done: safe on any stream
            return None
        ready = self._torch.cuda.Event()
        ready.record(self._stream)
        return ready

    def _pts(self, frame: Any) -> float | None:
        try:
            pts = int(frame.getPTS())
        except Exception:  # some builds expose no PTS
            return None
        # getPTS() is in the container's time base (1/15360 for a 30 fps MP4, say)
        return pts * self._time_base if pts >= 0 else None


def _require_torch() -> ModuleType:
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise MissingDependencyError(f"NVDEC decoding hands frames to torch: {GPU_HINT}") from exc
