"""`python -m tf3d.ops build`: compile the custom ops ahead of time and print the library path.

With `$TF3D_OPS_LIBRARY` set it builds nothing: it loads and prints that library.
"""

import sys

from tf3d import cli


def main(argv=None):
    parser = cli.parser("python -m tf3d.ops", __doc__)
    parser.add_argument("command", choices=["build"], help="build: compile (or find) the library")

    def body(args):
        from tf3d.ops import build

        try:
            library = build.library_path(verbose=args.verbose)  # --verbose prints the compiler commands
            build.load_library()  # a library that builds but does not load is a failure too
        except (build.CompilerNotFoundError, FileNotFoundError) as error:
            raise cli.UserError(str(error)) from None
        print(library)

    return cli.run(body, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
