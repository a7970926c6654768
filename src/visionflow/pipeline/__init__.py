"""The pipeline: the only package that wires stages together."""

from __future__ import annotations

from visionflow.pipeline.runtime import Pipeline, PipelineState, RunSummary, StreamStatus
from visionflow.pipeline.shards import ShardedRun, merge_summaries, shard_configs
from visionflow.pipeline.stats import LatencyStats, StageSummary

__all__ = [
    "LatencyStats",
    "Pipeline",
    "PipelineState",
    "RunSummary",
    "ShardedRun",
    "StageSummary",
    "StreamStatus",
    "merge_summaries",
    "shard_configs",
]
