"""A passthrough FUSE file system with a delay per request: a stand-in for Drive's mount.

    python benchmarks/fuse_passthrough.py SOURCE MOUNTPOINT [--latency-ms 20]

Mounts SOURCE read-only at MOUNTPOINT in the foreground (Ctrl-C or `umount`
ends it). Every `open` and every `read` request sleeps `--latency-ms` first
(0: FUSE's own cost only), and reads bypass the page cache (`direct_io`), so
each pass over the data goes through the daemon as a cold read of a network
file system would. It models a mount whose every request is a round trip; it
does not measure Google Drive itself. `benchmarks/mounted_data.py` reads a
dataset through it.

Needs libfuse 2 (`apt-get install libfuse2`, or its .so named by
`FUSE_LIBRARY_PATH`), the `fusepy` package, and the right to mount (root, or
`fusermount`).
"""

import argparse
import errno
import os
import threading
import time


def main(argv=None):
    from fuse import FUSE, FuseOSError, Operations

    parser = argparse.ArgumentParser(prog="python benchmarks/fuse_passthrough.py", description=__doc__.split("\n")[0])
    parser.add_argument("source")
    parser.add_argument("mountpoint")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay of every open and read request")
    args = parser.parse_args(argv)
    root, delay = os.path.realpath(args.source), args.latency_ms / 1000.0
    lock = threading.Lock()

    class Passthrough(Operations):
        def _path(self, path):
            return os.path.join(root, path.lstrip("/"))

        def getattr(self, path, fh=None):
            try:
                st = os.lstat(self._path(path))
            except OSError as error:
                raise FuseOSError(error.errno) from None
            return {k: getattr(st, k) for k in ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime",
                                                "st_nlink", "st_size", "st_uid")}

        def readdir(self, path, fh):
            return [".", ".."] + os.listdir(self._path(path))

        def open(self, path, flags):
            if flags & (os.O_WRONLY | os.O_RDWR):
                raise FuseOSError(errno.EROFS)
            time.sleep(delay)
            return os.open(self._path(path), os.O_RDONLY)

        def read(self, path, size, offset, fh):
            time.sleep(delay)
            with lock:
                os.lseek(fh, offset, os.SEEK_SET)
                return os.read(fh, size)

        def release(self, path, fh):
            os.close(fh)

    FUSE(Passthrough(), args.mountpoint, foreground=True, ro=True, direct_io=True, nothreads=False)


if __name__ == "__main__":
    main()
