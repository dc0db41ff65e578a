"""Finding corrupt or truncated records, by file and record number.

`tf.data` reports a broken shard as "corrupted record at <byte offset>" without
the file, and a PNG that fails to decode without the record. `scan_shards`
reads shards one record at a time (streaming through `tf.io.gfile`, so it
works on `gs://` and Drive mounts too) and names every bad record. The input
pipeline uses it two ways:

* strict (default): when reading fails mid-run, `explain` re-scans and raises a
  `CorruptDataError` naming the file and record;
* `skip_bad_records`: the shards are scanned once before training, bad records
  are left out of the stream, and the count is reported.

A TFRecord reader cannot re-synchronise after a framing error (bad length or
CRC, truncation), so such a record also makes every later record of its file
unreadable; `BadRecord.readable` says how many records before it survive.
"""

import dataclasses

from tf3d.cli import UserError
from tf3d.data import records


@dataclasses.dataclass(frozen=True)
class BadRecord:
    """One unusable record.

    Attributes:
      file: shard path.
      index: 0-based record number within the shard.
      reason: what failed (TF's message, shortened).
      framing: True if the shard itself is broken here (corrupt or truncated),
        so no record from `index` on can be read.
    """

    file: str
    index: int
    reason: str
    framing: bool

    def __str__(self):
        tail = " (and every later record of this shard)" if self.framing else ""
        return f"{self.file}: record {self.index}{tail}: {self.reason}"


class CorruptDataError(UserError, RuntimeError):
    """Raised when a shard holds a record that cannot be read or decoded."""


def _short(error):
    message = getattr(error, "message", None) or str(error)
    return message.strip().splitlines()[0][:200]


def check_record(serialized, num_views, resolution):
    """Parses and decodes one record exactly as the pipeline does; raises on failure."""
    import tensorflow as tf

    parsed = records.parse_record(serialized, num_views, resolution)
    for png in tf.unstack(parsed["images"]) + tf.unstack(parsed["masks"]):
        tf.io.decode_png(png, channels=1)


def scan_shards(files, num_views, resolution):
    """Reads every record of `files` and returns the bad ones.

    Args:
      files: shard paths (local, Drive, `gs://`).
      num_views, resolution: what every record must hold (`tf3d_info.json`).

    Returns:
      list of `BadRecord`, in file order.
    """
    import tensorflow as tf

    bad = []
    for path in files:
        iterator = iter(tf.data.TFRecordDataset(path))
        index = 0
        while True:
            try:
                serialized = next(iterator)
            except StopIteration:
                break
            except (tf.errors.DataLossError, tf.errors.OutOfRangeError) as error:
                bad.append(BadRecord(path, index, _short(error), framing=True))
                break
            try:
                check_record(serialized, num_views, resolution)
            except (tf.errors.InvalidArgumentError, ValueError) as error:
                bad.append(BadRecord(path, index, _short(error), framing=False))
            index += 1
    return bad


def explain(error, files, num_views, resolution):
    """A `CorruptDataError` naming the bad records behind a `tf.data` `error`, or None.

    None means the shards are fine and `error` came from somewhere else.
    """
    bad = scan_shards(files, num_views, resolution)
    if not bad:
        return None
    listing = "\n  ".join(str(b) for b in bad[:10])
    more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
    return CorruptDataError(
        f"reading the dataset failed ({_short(error)}); {len(bad)} bad record(s):\n  {listing}{more}\n"
        f"Rebuild the shard(s), or set data.skip_bad_records=true to train without them.")
