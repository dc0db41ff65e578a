"""Inference with a trained run: `python -m tf3d.predict RUN_DIR image.png -o chair.obj`.

Loads the run's model from its directory alone (`tf3d.runs.load_model`) and
hands the inputs to its task. For the paired task it writes, next to the `-o`
path (OBJ or PLY, chosen by its extension):

    chair.obj / chair.ply   marching-cubes mesh of the predicted occupancy
    chair.npy               float32 [X, Y, Z] occupancy probabilities
    chair.png               preview: input | predicted voxels

The image should show one object roughly centred and filling the frame as in
the training renders; transparent pixels are composited over white, colour is
converted to gray, non-square pictures are padded with white
(`tf3d.data.images`). The shape comes out in the viewer-centred frame
(`tf3d.conventions`): as the azimuth-0 camera at the training elevation sees
it, +Y up, the viewer looking down -Z.
"""

import sys

from tf3d import cli, runs


def main(argv=None):
    parser = cli.parser("python -m tf3d.predict", __doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a run directory written by `python -m tf3d.train`")
    parser.add_argument("--checkpoint", default="best", help="best, last, or a .keras path")
    known, _ = parser.parse_known_args(argv)

    def body(_):
        from tf3d import config as config_lib
        from tf3d import tasks

        # The task decides the remaining arguments, so the run's config is read first.
        task_class = tasks.get(config_lib.load(known.run_dir).task.name)
        task_class.add_predict_arguments(parser)
        args = parser.parse_args(argv)
        model, cfg = runs.load_model(args.run_dir, args.checkpoint)
        print(tasks.build(cfg).predict(model, runs.RunDir(args.run_dir), args))

    return cli.run(body, known)


if __name__ == "__main__":
    sys.exit(main())
