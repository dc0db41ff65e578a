"""The input pipeline on a mounted file system (Drive's FUSE mount, or a stand-in for it).

    python benchmarks/mounted_data.py --split-records DIR OUT     # OUT: DIR's records, one file each
    python benchmarks/mounted_data.py --local DIR --mounted MNT [--local-small OUT --mounted-small MNT2]

Reads one pass over the training split with `tf3d.data.pipeline.make_dataset`
as training does (batch 32, one random view, interleave of 4 files, shuffle),
from a fresh iterator each round (so files are opened again), after one
warm-up pass, rounds alternating between the directories, best of
`--rounds`, and prints examples per second for each directory and the ratio
mounted/local, in the same process. MNT is the same build seen through the
mount (on Colab: a copy in `/content/drive/MyDrive/...`; here:
`benchmarks/fuse_passthrough.py DIR MNT --latency-ms L`). The `-small`
pair is the same records written one per file (`--split-records`), the
layout of datasets kept as many small files, to show what a mount costs them.
"""

import argparse
import os
import shutil
import sys
import time


def one_pass_rate(directory, batch_size=32):
    """`(examples per second, files)` of one training pass over `directory`'s train split."""
    from tf3d.data import pipeline

    source = pipeline.resolve(directory, "train")
    steps = pipeline.num_batches(source, batch_size)
    ds = pipeline.make_dataset(source, "train", batch_size=batch_size, training=True, views="random", seed=0)
    start = time.perf_counter()
    count = sum(int(images.shape[0]) for images, _ in ds.take(steps))
    return count / (time.perf_counter() - start), len(source.files)


def split_records(directory, out):
    """Writes every record of `directory` into its own shard file in `out` (same metadata)."""
    import tensorflow as tf

    from tf3d.data import records

    os.makedirs(out, exist_ok=True)
    shutil.copy(os.path.join(directory, records.INFO_FILE), out)
    for split in records.SPLITS:
        raw = [r.numpy() for f in sorted(tf.io.gfile.glob(f"{directory}/*-{split}.tfrecord-*"))
               if records.parse_shard_name(f) for r in tf.data.TFRecordDataset(f)]
        for index, record in enumerate(raw):
            with tf.io.TFRecordWriter(os.path.join(out, records.shard_name("small", split, index, len(raw)))) as w:
                w.write(record)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python benchmarks/mounted_data.py", description=__doc__.split("\n")[0])
    parser.add_argument("--split-records", nargs=2, metavar=("DIR", "OUT"))
    parser.add_argument("--local")
    parser.add_argument("--mounted")
    parser.add_argument("--local-small")
    parser.add_argument("--mounted-small")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.split_records:
        print(f"wrote {split_records(*args.split_records)}")
        return 0
    names = [n for n in ("local", "mounted", "local_small", "mounted_small") if getattr(args, n)]
    one_pass_rate(getattr(args, names[0]))  # warm-up: tracing and thread pools, not counted
    rates, files = dict.fromkeys(names, 0.0), {}
    for _ in range(args.rounds):  # rounds alternate between the directories; best of each
        for name in names:
            rate, files[name] = one_pass_rate(getattr(args, name))
            rates[name] = max(rates[name], rate)
    for name in names:
        print(f"{name:14s}: {rates[name]:8.1f} examples/s  ({files[name]} train files, {getattr(args, name)})")
    for layout in ("", "_small"):
        if f"local{layout}" in rates and f"mounted{layout}" in rates:
            print(f"ratio mounted/local{layout or ' (shards)'} = "
                  f"{rates['mounted' + layout] / rates['local' + layout]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
