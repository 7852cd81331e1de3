#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
# stall.py [--stdout] [--pipe|--fifo] OUT HOLD CMD...: run CMD with its
# stderr (--stdout: its standard output) a UNIX stream socket, as the
# systemd journal's is (--pipe: a pipe, as a shell pipeline's; --fifo: a
# named pipe, as bash's >(...) gives), and read nothing
# from it for HOLD seconds (a journald or a consumer that has stopped
# reading); then read it to CMD's end into OUT. Prints "pid N" once CMD
# runs. Bounded: the reading ends with CMD.
import fcntl
import os
import socket
import sys
import tempfile
import time


def main():
    args = sys.argv[1:]
    fd, pipe, fifo = 2, False, False
    while args and args[0].startswith("--"):
        fd = 1 if args[0] == "--stdout" else fd
        pipe = pipe or args[0] == "--pipe"
        fifo = fifo or args[0] == "--fifo"
        args = args[1:]
    out, hold, cmd = args[0], float(args[1]), args[2:]
    if fifo:
        d = tempfile.mkdtemp()
        path = os.path.join(d, "fifo")
        os.mkfifo(path)
        r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        w = os.open(path, os.O_WRONLY)
        fcntl.fcntl(r, fcntl.F_SETFL, 0)
        os.unlink(path)
        os.rmdir(d)
        pipe = True
        ours, theirs = os.fdopen(r, "rb", buffering=0), os.fdopen(w, "wb")
    elif pipe:
        r, w = os.pipe()
        ours, theirs = os.fdopen(r, "rb", buffering=0), os.fdopen(w, "wb")
    else:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        ours.close()
        os.dup2(theirs.fileno(), fd)
        os.execvp(cmd[0], cmd)
    theirs.close()
    print("pid %d" % pid, flush=True)
    time.sleep(hold)
    with open(out, "wb") as f:
        while True:
            d = ours.read(65536) if pipe else ours.recv(65536)
            if not d:
                break
            f.write(d)
            f.flush()
    os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
