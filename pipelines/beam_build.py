"""Dataset builds as an Apache Beam pipeline (`python -m pipelines.build ... --runner direct`).

The same shard plan, per-model work and shard writer as the process-pool
build (`pipelines.shards.build_dataset`), run by a Beam runner instead of a
`multiprocessing.Pool`, as TFDS builds its large datasets:

    Create(bundles of <= bundle_size models, each tagged with its shard and position)
      | Reshuffle                          spread the bundles over the workers
      | ParDo(process)                     load, normalize, voxelize, render (one Blender
                                           process per bundle), encode: the source's own
                                           `process_shard`, the pool's per-model work
      | GroupByKey(shard)                  every record of one shard on one worker
      | ParDo(write)                       `shards.write_shard_file`, records in plan order

Content is deterministic: the plan depends on model ids only
(`shards.plan_shards`), records are put back into plan order before a shard
is written, and the shard writer is the pool's, so any runner at any
parallelism writes the same bytes as the pool for the same models
(`tests/test_beam_build.py` checks it). The metadata (`tf3d_info.json`,
TFDS's files) is written by the launching process once the pipeline has run.

Runners (`--runner`): `direct` (Beam's DirectRunner with `--workers`
processes, `--direct_running_mode multi_processing`), `DataflowRunner`,
`FlinkRunner`, `SparkRunner`; other `--flag=value` arguments of the build
command are Beam pipeline options (`--project`, `--region`,
`--temp_location`, `--sdk_container_image`, ...). On a cluster, `--out`
must be a location every worker can write (`gs://...`) and the workers need
Blender or `bpy` and the source files (docs/scaling.md).
"""

import logging
import shutil
import tempfile

try:
    import apache_beam as beam
except ImportError:  # only `--runner` other than pool imports this module
    raise ImportError("--runner needs Apache Beam: pip install -e '.[beam]'") from None

from pipelines import shards

log = logging.getLogger(__name__)

RUNNERS = ("direct", "DataflowRunner", "FlinkRunner", "SparkRunner")
BUNDLE_SIZE = 32  # models per Blender process: larger amortizes its start-up, smaller spreads the work


class BeamRunner:
    """Runs build jobs (`shards.build_dataset(runner=...)`) as a Beam pipeline.

    Args:
      runner: one of `RUNNERS`.
      options: extra Beam pipeline options, as command-line flags.
      workers: DirectRunner worker processes (ignored by the other runners).
      bundle_size: models per processing element (one Blender process each).
    """

    def __init__(self, runner="direct", options=(), workers=2, bundle_size=BUNDLE_SIZE):
        if runner not in RUNNERS:
            raise ValueError(f"runner must be one of {RUNNERS}, got {runner!r}")
        if bundle_size < 1:
            raise ValueError(f"bundle_size must be positive, got {bundle_size}")
        self.runner, self.options = runner, list(options)
        self.workers, self.bundle_size = max(1, int(workers)), int(bundle_size)

    def pipeline_options(self):
        """The `PipelineOptions` of the run: the runner, DirectRunner parallelism, the extra flags."""
        from apache_beam.options.pipeline_options import PipelineOptions

        flags = list(self.options)
        if self.runner == "direct":
            flags = ["--runner=DirectRunner", f"--direct_num_workers={self.workers}",
                     "--default_sdk_harness_log_level=WARNING",
                     "--direct_running_mode=" + ("multi_processing" if self.workers > 1 else "in_memory")
                     ] + flags
        else:
            flags = [f"--runner={self.runner}"] + flags
        return PipelineOptions(flags)

    def __call__(self, jobs):
        process_shard = jobs[0][2]
        plan = {path: (sources, fingerprint) for path, sources, _, fingerprint in jobs}
        bundles = [(path, start, sources[start:start + self.bundle_size])
                   for path, sources, _, _ in jobs for start in range(0, len(sources), self.bundle_size)]
        log.info("beam (%s): %d models in %d bundles for %d shards", self.runner,
                 sum(len(b[2]) for b in bundles), len(bundles), len(jobs))
        # Beam's INFO lines (one per worker message) would bury the build's own log.
        logging.getLogger("apache_beam").setLevel(logging.WARNING)
        with beam.Pipeline(options=self.pipeline_options()) as pipeline:
            _ = (pipeline
                 | "bundles" >> beam.Create(bundles)
                 | "spread" >> beam.Reshuffle()
                 | "process" >> beam.ParDo(_ProcessBundle(process_shard))
                 | "by shard" >> beam.GroupByKey()
                 | "write" >> beam.ParDo(_WriteShard(plan)))


class _ProcessBundle(beam.DoFn):
    """A bundle of models -> `(shard path, (position, skip reason or None, record bytes or None))`."""

    def __init__(self, process_shard):
        self.process_shard = process_shard
        self.models = beam.metrics.Metrics.counter("tf3d", "models")
        self.skipped = beam.metrics.Metrics.counter("tf3d", "skipped")

    def process(self, element):
        shard_path, start, sources = element
        position = {s.model_id: start + i for i, s in enumerate(sources)}
        work_dir = tempfile.mkdtemp(prefix="tf3d-beam-")  # local scratch on every runner
        try:
            for source, result in self.process_shard(sources, work_dir):
                skip = isinstance(result, shards.SkipModel)
                (self.skipped if skip else self.models).inc()
                yield shard_path, (position[source.model_id], str(result) if skip else None,
                                   None if skip else result)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)


class _WriteShard(beam.DoFn):
    """Every result of one shard -> the shard and its manifest (`shards.write_shard_file`)."""

    def __init__(self, plan):
        self.plan = plan  # shard path -> (sources in plan order, fingerprint)

    def process(self, element):
        shard_path, results = element
        sources, fingerprint = self.plan[shard_path]
        ordered = sorted(results, key=lambda r: r[0])
        if [r[0] for r in ordered] != list(range(len(sources))):
            raise RuntimeError(f"{shard_path}: got results for positions {[r[0] for r in ordered]}, "
                               f"expected 0..{len(sources) - 1}")
        pairs = [(sources[i], shards.SkipModel(reason) if reason is not None else record)
                 for i, reason, record in ordered]
        manifest = shards.write_shard_file(shard_path, sources, pairs, fingerprint)
        yield shard_path, manifest["num_records"]
