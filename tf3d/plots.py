"""Small PIL drawings for reports: captioned picture grids and line plots.

tf3d does not depend on matplotlib; these draw straight into `uint8` arrays
with PIL's built-in font, enough for strips of renderings, sweep grids and
convergence curves in the README.
"""

import numpy as np

_FONT_HEIGHT = 11
_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def _rgb(image):
    image = np.asarray(image)
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]


def grid(rows, row_labels=(), column_labels=(), label_width=90, pad=2):
    """uint8 `[H, W, 3]` picture of equally sized tiles with optional labels.

    Args:
      rows: list of rows, each a list of `[h, w]` or `[h, w, 3]` uint8 tiles
        (None leaves a white cell).
      row_labels: text left of each row (empty: no label column).
      column_labels: text above each column (empty: no label row).
    """
    from PIL import Image, ImageDraw

    tile = next(_rgb(t) for row in rows for t in row if t is not None)
    h, w = tile.shape[:2]
    columns = max(len(row) for row in rows)
    left = label_width if row_labels else 0
    top = _FONT_HEIGHT + 4 if column_labels else 0
    canvas = Image.new("RGB", (left + columns * (w + pad), top + len(rows) * (h + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, text in enumerate(column_labels):
        draw.text((left + j * (w + pad) + 2, 1), str(text), fill=(0, 0, 0))
    for i, row in enumerate(rows):
        y = top + i * (h + pad)
        if row_labels:
            draw.text((2, y + h // 2 - _FONT_HEIGHT // 2), str(row_labels[i]), fill=(0, 0, 0))
        for j, image in enumerate(row):
            if image is not None:
                canvas.paste(Image.fromarray(_rgb(image)), (left + j * (w + pad), y))
    return np.asarray(canvas)


def line_plot(series, title="", x_label="", y_label="", log_y=False, size=(360, 240), bands=None):
    """uint8 `[H, W, 3]` line plot.

    Args:
      series: dict label -> (xs, ys).
      log_y: logarithmic y axis (non-positive values are dropped).
      bands: optional dict label -> (lows, highs) at the same xs: a shaded band
        around the series' line in a light shade of its colour (mean ± std).
    """
    from PIL import Image, ImageDraw

    width, height = size
    margin_l, margin_r, margin_t, margin_b = 52, 8, 18, 30
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    fy = (lambda v: np.log10(v)) if log_y else (lambda v: v)
    points = [(np.asarray(s[0], float), np.asarray(s[1], float)) for s in series.values()]
    bands = {k: tuple(np.asarray(b, float) for b in v) for k, v in (bands or {}).items() if k in series}
    xs = np.concatenate([p[0] for p in points])
    ys = np.concatenate([p[1] for p in points] + [b for band in bands.values() for b in band])
    keep = np.isfinite(ys) & ((ys > 0) if log_y else True)
    if not keep.any():
        raise ValueError("line_plot: no finite values to draw")
    x0, x1 = float(xs.min()), float(xs.max()) or 1.0
    y0, y1 = float(fy(ys[keep]).min()), float(fy(ys[keep]).max())
    if y1 <= y0:
        y1 = y0 + 1.0
    to_px = lambda x, y: (margin_l + (x - x0) / max(x1 - x0, 1e-12) * (width - margin_l - margin_r),  # noqa: E731
                          height - margin_b - (y - y0) / (y1 - y0) * (height - margin_t - margin_b))
    draw.rectangle([margin_l, margin_t, width - margin_r, height - margin_b], outline=(0, 0, 0))
    for k in range(5):
        value = y0 + (y1 - y0) * k / 4
        _, py = to_px(x0, value)
        draw.line([(margin_l - 3, py), (margin_l, py)], fill=(0, 0, 0))
        draw.text((2, py - 5), f"{10 ** value:.2g}" if log_y else f"{value:.3g}", fill=(0, 0, 0))
    for k in range(3):
        value = x0 + (x1 - x0) * k / 2
        px, _ = to_px(value, y0)
        draw.text((px - 8, height - margin_b + 4), f"{value:g}", fill=(0, 0, 0))
    draw.text((margin_l, 2), title, fill=(0, 0, 0))
    draw.text((width // 2 - 3 * len(x_label), height - 13), x_label, fill=(0, 0, 0))
    draw.text((margin_l + 4, margin_t + 2), y_label, fill=(90, 90, 90))
    for n, (label, (x, _)) in enumerate(zip(series, points)):
        if label in bands:
            light = tuple(int(255 - 0.25 * (255 - c)) for c in _COLORS[n % len(_COLORS)])
            low, high = bands[label]
            ok = np.isfinite(low) & np.isfinite(high) & (((low > 0) & (high > 0)) if log_y else True)
            outline = [to_px(a, fy(b)) for a, b in zip(x[ok], high[ok])] + \
                [to_px(a, fy(b)) for a, b in zip(x[ok][::-1], low[ok][::-1])]
            if len(outline) > 2:
                draw.polygon(outline, fill=light)
    for n, (label, (x, y)) in enumerate(zip(series, points)):
        color = _COLORS[n % len(_COLORS)]
        ok = np.isfinite(y) & ((y > 0) if log_y else True)
        line = [to_px(a, fy(b)) for a, b in zip(x[ok], y[ok])]
        if len(line) > 1:
            draw.line(line, fill=color, width=2)
        lx, ly = width - margin_r - 110, margin_t + 4 + 12 * n
        draw.line([(lx, ly + 6), (lx + 14, ly + 6)], fill=color, width=2)
        draw.text((lx + 18, ly), str(label)[:16], fill=(0, 0, 0))
    return np.asarray(canvas)


def save_png(path, image):
    """Writes a uint8 image as PNG (through a temporary file and a rename)."""
    import os

    from PIL import Image

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}.png"
    Image.fromarray(np.asarray(image)).save(tmp, optimize=True)
    os.replace(tmp, path)
    return path
