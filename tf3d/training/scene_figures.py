"""Pictures of a trained `AlphaGAN`: interpolation, latent-noise maps, samples from the prior.

`figures(model, data, split)` returns named uint8 RGB images (and one list of
frames for the GIF), all drawn with `tf3d.training.scene_render`:

    interpolation      the first two scenes of the split (or one and its mirror image), encoded; the codes mixed
                       linearly in `steps` frames, decoded (argmax), real scenes at the ends
    interpolation.gif  the decoded frames, forth and back
    noise_map          one panel per cell (i, k) of the code's middle layer: the change of
                       the decoded probabilities (half the L1 distance per voxel, its largest
                       value over +Y seen from above, white to red up to the largest change
                       of all panels) when N(0, I) noise is added to that cell's channels;
                       the cell's place is marked in blue. A fully
                       convolutional code changes the scene near the cell only.
    samples            scenes decoded from codes drawn from N(0, I)
"""

import numpy as np

from tf3d.training.scene_render import render_scene, scene_strip

_NOISE_SEED = 1


def _argmax(probabilities):
    return np.asarray(probabilities).argmax(-1).astype(np.uint8)


def interpolation_frames(model, first, second, steps, refined=False):
    """uint8 `[steps, X, Y, Z]` labels decoded along the line between the codes of two label grids."""
    import tensorflow as tf

    codes = model.encode(np.stack([first, second]))[0]
    t = tf.reshape(tf.linspace(0.0, 1.0, steps), [-1] + [1] * (len(codes.shape) - 1))
    mixed = (1.0 - t) * codes[:1] + t * codes[1:]
    return _argmax(model.decode(mixed, refined=refined))


def noise_map(model, labels, size=72, batch=8):
    """uint8 RGB panels `[x * size, z * size, 3]`: the change caused by noise in each middle-layer cell."""
    import tensorflow as tf

    code = model.encode(labels[None])[0][0].numpy()  # [x, y, z, c]
    if code.ndim != 4:
        raise ValueError("latent-noise maps need a fully convolutional code")
    cx, cy, cz, channels = code.shape
    base = model.decode(code[None]).numpy()[0]
    noise = np.random.default_rng(_NOISE_SEED).standard_normal(channels).astype(np.float32)
    cells = [(i, k) for i in range(cx) for k in range(cz)]
    changes = []
    for start in range(0, len(cells), batch):
        chunk = cells[start:start + batch]
        codes = np.repeat(code[None], len(chunk), axis=0)
        for n, (i, k) in enumerate(chunk):
            codes[n, i, cy // 2, k] += noise
        decoded = model.decode(tf.constant(codes)).numpy()
        changes.extend(0.5 * np.abs(decoded - base[None]).sum(-1).max(axis=2))  # [X, Z] each
    panels = np.full((cx * size, cz * size, 3), 255, dtype=np.uint8)
    X, Z = changes[0].shape
    scale = max(float(np.max(changes)), 1e-6)  # the largest change of all panels is full red
    for (i, k), change in zip(cells, changes):
        rows = np.minimum((np.arange(size - 2) * X / (size - 2)).astype(int), X - 1)
        cols = np.minimum((np.arange(size - 2) * Z / (size - 2)).astype(int), Z - 1)
        heat = np.clip(change[rows][:, cols] / scale, 0.0, 1.0)[..., None]
        panel = (255 * (1 - heat) + heat * np.array([200, 0, 0])).astype(np.uint8)  # white -> red
        r0, c0 = int((i + 0.5) * (size - 2) / cx), int((k + 0.5) * (size - 2) / cz)
        panel[max(r0 - 1, 0):r0 + 2, max(c0 - 1, 0):c0 + 2] = (0, 0, 255)  # the cell's centre
        panels[i * size + 1:(i + 1) * size - 1, k * size + 1:(k + 1) * size - 1] = panel
    return panels


def figures(model, data, split, steps=8, num_samples=6, seed=0, refined=False, size=160, downsample=1):
    """`{name: image}` of the pictures in the module docstring (the GIF's entry is a list of frames)."""
    from tf3d.data import scenes

    grids = []
    for labels in scenes.make_dataset(data, split, 2, training=False, downsample=downsample):
        grids.extend(labels.numpy())
        if len(grids) >= 2:
            break
    if not grids:
        raise ValueError(f"{data} has no {split!r} scenes to draw")
    if len(grids) < 2:  # a one-scene split: interpolate towards its mirror image
        grids.append(grids[0][::-1])
    first, second = grids[0], grids[1]
    frames = interpolation_frames(model, first, second, steps, refined)
    out = {"interpolation": scene_strip([first, *frames, second], image_size=size)}
    pictures = [render_scene(f, image_size=size) for f in frames]
    out["interpolation.gif"] = pictures + pictures[-2:0:-1]
    if model.fully_convolutional:
        out["noise_map"] = noise_map(model, first)
    samples = _argmax(model.decode(model.sample_codes(num_samples, seed=seed), refined=refined))
    out["samples"] = scene_strip(samples, image_size=size)
    return out


def write_gif(path, frames, duration_ms=250):
    """Writes RGB frames as a looping GIF (local or gs:// path)."""
    import io

    import tensorflow as tf
    from PIL import Image

    buffer = io.BytesIO()
    images = [Image.fromarray(f) for f in frames]
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    with tf.io.gfile.GFile(path, "wb") as fh:
        fh.write(buffer.getvalue())
