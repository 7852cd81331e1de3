#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
# stall.py OUT HOLD CMD...: run CMD with its stderr a UNIX stream socket,
# as the systemd journal's is, and read nothing from it for HOLD seconds
# (a journald that has stopped reading); then read it to CMD's end into
# OUT. Prints "pid N" once CMD runs. Bounded: the reading ends with CMD.
import os
import socket
import sys
import time


def main():
    out, hold, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        ours.close()
        os.dup2(theirs.fileno(), 2)
        os.execvp(cmd[0], cmd)
    theirs.close()
    print("pid %d" % pid, flush=True)
    time.sleep(hold)
    with open(out, "wb") as f:
        while True:
            d = ours.recv(65536)
            if not d:
                break
            f.write(d)
            f.flush()
    os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
