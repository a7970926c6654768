"""Typer app: ``run``, ``demo``, ``validate``, ``schema``, ``models``, ``import-nvdsanalytics``."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from visionflow.config import PipelineConfig, check_files, load_config
from visionflow.errors import ConfigError, VisionflowError

if TYPE_CHECKING:
    from visionflow.pipeline import RunSummary

app = typer.Typer(
    name="visionflow",
    help="Real-time multi-stream video analytics: decode, detect, track, count, publish.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="Pipeline config (YAML).", show_default=False)]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Output folder (overrides output.dir).")
]
NoVideoOpt = Annotated[bool, typer.Option("--no-video", help="Do not write annotated videos.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )


@app.command()
def validate(config: ConfigArg) -> None:
    """Check a config file: schema, types, unknown keys and input files."""
    cfg = _load(config)
    problems = check_files(cfg)
    if problems:
        _fail(f"{config}: {len(problems)} problem(s)\n  " + "\n  ".join(problems))
    console.print(
        f"[green]ok[/green] {config}: {len(cfg.sources)} source(s), model {cfg.model.kind}"
    )


@app.command()
def schema() -> None:
    """Print the config's JSON Schema (for editor completion)."""
    print(json.dumps(PipelineConfig.model_json_schema(), indent=2))


@app.command()
def models(
    assets: Annotated[Path | None, typer.Option(help="Assets folder to look in.")] = None,
) -> None:
    """List the inference backends and the model files found."""
    from visionflow.cli.listing import models_table

    console.print(*models_table(assets))


@app.command()
def run(
    config: ConfigArg,
    output: OutputOpt = None,
    no_video: NoVideoOpt = False,
    quiet: QuietOpt = False,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Processes sharing the streams (runtime.processes): each its own GIL.",
        ),
    ] = None,
) -> None:
    """Run a pipeline config to the end of its sources (Ctrl-C stops cleanly)."""
    cfg = _load(config)
    problems = check_files(cfg)
    if problems:
        _fail(f"{config}: {len(problems)} problem(s)\n  " + "\n  ".join(problems))
    cfg = _override(cfg, output, no_video)
    if processes is not None:
        cfg = cfg.model_copy(
            update={"runtime": cfg.runtime.model_copy(update={"processes": processes})}
        )
    _execute(cfg, quiet=quiet)


@app.command()
def demo(
    output: OutputOpt = None,
    no_video: NoVideoOpt = False,
    quiet: QuietOpt = False,
    assets: Annotated[Path | None, typer.Option(help="Assets folder.")] = None,
) -> None:
    """Count people on the bundled sample clip (fetches weights and clip once)."""
    from visionflow.cli.demo import demo_config

    try:
        cfg = demo_config(assets)
    except VisionflowError as exc:
        _fail(str(exc))
    _execute(_override(cfg, output or Path("out/demo"), no_video), quiet=quiet)


@app.command("import-nvdsanalytics")
def import_nvdsanalytics(
    file: Annotated[
        Path, typer.Argument(help="DeepStream config_nvdsanalytics.txt.", show_default=False)
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the YAML here (default: stdout).")
    ] = None,
    streams: Annotated[
        str | None,
        typer.Option(
            help="Source ids of DeepStream streams 0, 1, ...: cam0,cam1 (default stream-N)"
        ),
    ] = None,
    frame_size: Annotated[
        str | None,
        typer.Option(help="Scale coordinates now to WxH (default: keep config-width x height)."),
    ] = None,
) -> None:
    """Convert a DeepStream nvdsanalytics config to visionflow's analytics: section."""
    from visionflow.cli import nvds

    try:
        result = nvds.import_file(file, streams=streams, frame_size=frame_size)
        if output is not None:
            nvds.write_output(result, output)
    except VisionflowError as exc:
        _fail(str(exc))  # _fail escapes: messages name [groups], not rich markup
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    if output is None:
        print(result.to_yaml(), end="")
    else:
        console.print(f"[green]wrote[/green] {escape(str(output))}: {nvds.summary(result)}")


def _load(path: Path) -> PipelineConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        _fail(str(exc))


def _override(cfg: PipelineConfig, output: Path | None, no_video: bool) -> PipelineConfig:
    changes: dict[str, object] = {}
    if output is not None:
        changes["dir"] = output
    if no_video:
        changes["video"] = False
    return cfg.model_copy(update={"output": cfg.output.model_copy(update=changes)})


def _execute(cfg: PipelineConfig, *, quiet: bool) -> None:
    from visionflow.cli.progress import run_with_progress
    from visionflow.cli.render import summary_tables
    from visionflow.pipeline import Pipeline

    if cfg.runtime.processes > 1 and len(cfg.sources) > 1:
        summary = _run_sharded(cfg, quiet=quiet)
    else:
        pipeline = Pipeline(cfg)
        try:
            with _graceful_signals(pipeline):
                summary = run_with_progress(pipeline, console, quiet=quiet)
        except VisionflowError as exc:
            _fail(str(exc))
    for table in summary_tables(summary):
        console.print(table)
    console.print(f"outputs in [bold]{cfg.output.dir}[/bold] ({summary.events_written} events)")
    if summary.error:
        _fail(summary.error)
    if summary.failed_streams:
        names = ", ".join(s.stream_id for s in summary.failed_streams)
        _fail(f"{len(summary.failed_streams)} stream(s) failed: {names}")
    if summary.interrupted:
        raise typer.Exit(130)


def _run_sharded(cfg: PipelineConfig, *, quiet: bool) -> RunSummary:
    """The streams shared by ``runtime.processes`` processes, one progress bar for all."""
    from visionflow.cli.progress import run_sharded_with_progress
    from visionflow.pipeline import ShardedRun

    sharded = ShardedRun(cfg)
    if not quiet:
        sizes = ", ".join(str(len(s.sources)) for s in sharded.shards)
        console.print(
            f"{len(cfg.sources)} streams in {len(sharded.shards)} processes ({sizes}); "
            f"outputs in {escape(str(cfg.output.dir))}/shard-<i>/"
        )
    with _graceful_signals(sharded):
        return run_sharded_with_progress(sharded, console, quiet=quiet)


@contextmanager
def _graceful_signals(pipeline: object) -> Iterator[None]:
    """First SIGINT/SIGTERM stops the pipeline cleanly; a second one exits at once."""
    hits = 0

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal hits
        hits += 1
        if hits > 1:
            sys.exit(128 + signum)
        err_console.print(f"[yellow]{signal.Signals(signum).name}: stopping, finalising outputs…")
        pipeline.stop()  # type: ignore[attr-defined]

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
