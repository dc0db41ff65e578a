"""`tf.distribute` for the trainer: picking a strategy, sharding the input, scaling losses.

`train.strategy` in an experiment names the strategy (`make_strategy`):

    auto          TPUStrategy on a Cloud/Colab TPU, MirroredStrategy when more than one
                  GPU is visible, the default (one-device) strategy otherwise
    default       the default strategy: one device, no replication
    mirrored      MirroredStrategy: every visible GPU of this machine (CPU without one)
    multi_worker  MultiWorkerMirroredStrategy over the machines of `TF_CONFIG`, every
                  worker running the same command (collective ops; on CPU too)
    tpu           TPUStrategy on the TPU that `TPUClusterResolver` finds

The trainer builds and compiles the model inside `strategy.scope()` and
hands `fit()` datasets made per input pipeline (`distribute_dataset`): each
worker reads its own shard files (`shard_files`, by file, so a dataset needs
at least as many shards as workers) in batches of the per-replica size, so
that one step consumes `train.batch_size` examples across all replicas (the
global batch) whatever the strategy.

Losses: Keras `Loss` objects passed to `compile()` divide their per-replica
mean by the number of replicas, so the all-reduced (summed) gradients are
those of the mean over the global batch. A custom `train_step` that
computes its losses by hand must do the same with `scale_loss` before taking
gradients, and report the unscaled value to its `keras.metrics.Mean`
trackers (their states are summed over the replicas when read).

Only the chief worker writes the run directory; the others write theirs to
`RUN_DIR/workers/worker-<i>` (`worker_run_dir`), so that every worker can
save and restore its own BackupAndRestore state and checkpoints without two
processes writing one file.
"""

import functools
import json
import os

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


def make_strategy(name="auto"):
    """The `tf.distribute.Strategy` named `name` (one of `STRATEGIES`, see the module docstring)."""
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "auto":
        if _tpu_address() is not None:
            name = "tpu"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("train.strategy=multi_worker needs TF_CONFIG describing the cluster, e.g. "
                             "TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
                             "\"task\": {\"type\": \"worker\", \"index\": 0}}' on the first machine")
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=_tpu_address() or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _tpu_address():
    """The TPU to connect to: Colab's (`COLAB_TPU_ADDR`), `TPU_NAME`, "local" on a TPU VM, or None."""
    if os.environ.get("COLAB_TPU_ADDR"):
        return "grpc://" + os.environ["COLAB_TPU_ADDR"]
    if os.environ.get("TPU_NAME"):
        return os.environ["TPU_NAME"]
    if os.path.exists("/dev/accel0") or os.path.exists("/dev/vfio/0"):  # a TPU VM (Colab's TPU v2 runtime)
        return "local"
    return None


def worker(strategy):
    """`(index, count, is_chief)` of this worker in `strategy`'s cluster (`(0, 1, True)` off a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    count = sum(len(spec.get(kind, [])) for kind in ("chief", "worker"))
    if count <= 1:
        return 0, 1, True
    kind, task_id = resolver.task_type, int(resolver.task_id or 0)
    index = task_id if kind == "chief" or "chief" not in spec else task_id + len(spec["chief"])
    is_chief = kind == "chief" or (kind == "worker" and task_id == 0 and "chief" not in spec)
    return index, count, is_chief


def input_context(strategy):
    """The `tf.distribute.InputContext` of this process: its input pipeline and replica count."""
    import tensorflow as tf

    index, count, _ = worker(strategy)
    return tf.distribute.InputContext(num_input_pipelines=count, input_pipeline_id=index,
                                      num_replicas_in_sync=strategy.num_replicas_in_sync)


def per_replica_batch(context, global_batch, what="train.batch_size"):
    """`global_batch` divided among the replicas; ValueError naming `what` if it does not divide."""
    replicas = 1 if context is None else context.num_replicas_in_sync
    if global_batch % replicas:
        raise ValueError(f"{what} ({global_batch}) must be a multiple of the number of replicas ({replicas})")
    return global_batch // replicas


def shard_files(files, context, what="the dataset"):
    """This input pipeline's share of `files`, by file: every `num_input_pipelines`-th one.

    Raises:
      ValueError: fewer files than input pipelines (workers), naming both counts.
    """
    files = tuple(files)
    if context is None or context.num_input_pipelines == 1:
        return files
    n = context.num_input_pipelines
    if len(files) < n:
        raise ValueError(f"{what} has {len(files)} shard file(s) for {n} workers; sharding by file needs at "
                         f"least one per worker: rebuild it with more shards (pipelines.build writes one "
                         f"per 64 models of a split) or train on fewer workers")
    return files[context.input_pipeline_id::n]


def distribute_dataset(strategy, dataset):
    """`dataset` (already sharded and batched per replica) as `fit()` input under `strategy`."""
    if strategy.num_replicas_in_sync == 1 and worker(strategy)[1] == 1:
        return dataset
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    dataset = dataset.with_options(options)  # sharded by file already (`shard_files`)
    return strategy.distribute_datasets_from_function(lambda context: dataset)


def prepare_for_fit(model, strategy, dataset):
    """Works around two failures of Keras 3.15's `fit()` under MultiWorkerMirroredStrategy.

    1. `fit()` and `evaluate()` take one batch from the distributed iterator
       and `strategy.reduce` it to build the model symbolically; that reduce
       fails on a tuple `(images, voxels)` ("Attempt to convert a value
       (PerReplica...)"). The build needs only shapes and dtypes, which the
       per-replica dataset's `element_spec` has, so the build is given those.
    2. Each step's logs are reduced over the workers with
       `strategy.reduce("MEAN", v, axis=0)`, which fails on scalar metric
       values ("Invalid reduction dimension 0"). The model's `train_step`
       and `test_step` return them as `[1]` tensors instead, whose mean over
       axis 0 is the mean over the replicas. (The epoch logs that callbacks
       read are the metrics read outside the step, where Keras's on-read
       metric variables are summed over all replicas.)

    Args:
      model: a model created in `strategy.scope()`.
      strategy: the strategy.
      dataset: the per-replica `tf.data.Dataset` (before `distribute_dataset`).
    """
    if strategy.num_replicas_in_sync == 1 and worker(strategy)[1] == 1:
        return
    build = model._maybe_symbolic_build  # noqa: SLF001 (the Keras step this replaces, see above)
    spec = dataset.element_spec
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: build(data_batch=spec)
    if worker(strategy)[1] > 1:
        for name in ("train_step", "test_step"):
            setattr(model, name, functools.partial(_logs_as_rank_1, getattr(model, name)))


def _logs_as_rank_1(step, data):
    import tensorflow as tf

    logs = step(data)
    return {k: tf.reshape(v, [1]) if v.shape.rank == 0 else v for k, v in logs.items()}


def scale_loss(loss):
    """A replica's mean loss scaled for summed gradients: `loss / num_replicas_in_sync`.

    For custom `train_step`s (Keras `Loss` objects do this themselves): the
    all-reduce sums the replicas' gradients, so each replica's mean over its
    share of the batch is divided by the number of replicas to give the
    gradient of the mean over the global batch.
    """
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss * (1.0 / replicas)


def worker_run_dir(run_dir, strategy):
    """Where this worker writes: `run_dir` on the chief, `run_dir/workers/worker-<i>` elsewhere."""
    index, _, is_chief = worker(strategy)
    return run_dir if is_chief else f"{run_dir.rstrip('/')}/workers/worker-{index}"


def describe(strategy):
    """One line: the strategy's class, replicas and this worker's place."""
    import tensorflow as tf

    index, count, _ = worker(strategy)
    where = f", worker {index} of {count}" if count > 1 else ""
    # TF's class behind MultiWorkerMirroredStrategy is CollectiveAllReduceStrategy.
    name = ("MultiWorkerMirroredStrategy" if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            else type(strategy).__name__)
    return f"{name}, {strategy.num_replicas_in_sync} replica(s){where}"


def tf_config(workers, index):
    """TF_CONFIG (JSON) for worker `index` of the `host:port` list `workers`."""
    return json.dumps({"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}})
