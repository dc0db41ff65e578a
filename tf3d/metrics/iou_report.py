"""`IoUReport`: per-example voxel IoUs aggregated per category and overall.

Two summary rows, labelled as what they are:

* `overall`: the mean over all examples (every view of every model counts
  once), which is what Pix2Vox reports as "overall" and what tf3d quotes as
  its headline;
* `category_mean`: the unweighted mean of the per-category means (each
  category counts once, whatever its size).
"""

from collections import defaultdict

import numpy as np


def _key(threshold):
    return f"iou_{threshold:g}"


class IoUReport:
    """Accumulates per-example IoUs by category.

    Args:
      thresholds: the probability thresholds the IoUs were computed at.

    Example:
    >>> report = IoUReport([0.4])
    >>> report.add(["chair", "table"], {0.4: [0.5, 1.0]})
    >>> report.result()["overall"]["iou_0.4"]
    0.75
    """

    def __init__(self, thresholds):
        if not thresholds:
            raise ValueError("thresholds must name at least one threshold")
        self.thresholds = [float(t) for t in thresholds]
        self._scores = defaultdict(lambda: defaultdict(list))

    def add(self, categories, ious):
        """Adds one batch.

        Args:
          categories: `[B]` category names (str or bytes).
          ious: `{threshold: [B] IoUs}` for every threshold of the report.
        """
        categories = [c.decode() if isinstance(c, bytes) else str(c) for c in categories]
        for t in self.thresholds:
            if t not in ious:
                raise ValueError(f"ious has no entry for threshold {t:g}; got {sorted(ious)}")
            values = np.asarray(ious[t], dtype=np.float64).reshape(-1)
            if len(values) != len(categories):
                raise ValueError(f"ious[{t:g}] has {len(values)} values for {len(categories)} categories")
            for name, value in zip(categories, values):
                self._scores[name][_key(t)].append(float(value))

    @property
    def count(self):
        return sum(len(s[_key(self.thresholds[0])]) for s in self._scores.values())

    def result(self):
        """`{"per_category": {c: {"count", "iou_<t>"...}}, "overall": {...}, "category_mean": {...}, "count"}`."""
        if not self._scores:
            raise ValueError("no examples were added")
        keys = [_key(t) for t in self.thresholds]
        per_category = {c: dict({k: float(np.mean(s[k])) for k in keys}, count=len(s[keys[0]]))
                        for c, s in sorted(self._scores.items())}
        overall = {k: float(np.mean([v for s in self._scores.values() for v in s[k]])) for k in keys}
        category_mean = {k: float(np.mean([row[k] for row in per_category.values()])) for k in keys}
        return {"per_category": per_category, "overall": dict(overall, count=self.count),
                "category_mean": dict(category_mean, count=len(per_category)), "count": self.count}


def format_table(result, thresholds):
    """The result of `IoUReport.result()` as a text table (one row per category, then the means)."""
    keys = [_key(t) for t in thresholds]
    row = lambda label, count, values: f"{label:<16}{count:>9}" + "".join(f"{v:>10.3f}" for v in values)
    lines = [f"{'category':<16}{'examples':>9}" + "".join(f"{'IoU@' + format(t, 'g'):>10}" for t in thresholds)]
    for name, scores in result["per_category"].items():
        lines.append(row(name, scores["count"], [scores[k] for k in keys]))
    lines.append(row("overall", result["overall"]["count"], [result["overall"][k] for k in keys])
                 + "   (mean over examples)")
    lines.append(row("category mean", f"{result['category_mean']['count']} cat.",
                     [result["category_mean"][k] for k in keys]) + "   (mean of the categories)")
    return "\n".join(lines)
