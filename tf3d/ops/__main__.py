"""`python -m tf3d.ops build`: compile the custom ops ahead of time and print the library path."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tf3d.ops", description=__doc__)
    parser.add_argument("command", choices=["build"], help="build: compile (or find) the library")
    parser.add_argument("--verbose", action="store_true", help="print the compiler commands")
    args = parser.parse_args(argv)
    from tf3d.ops import build
    try:
        library = build.build_library(verbose=args.verbose)
        build.load_library()  # a library that builds but does not load is a failure too
    except build.CompilerNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    print(library)
    return 0


if __name__ == "__main__":
    sys.exit(main())
