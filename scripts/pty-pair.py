#!/usr/bin/env python3
"""A linked pair of pseudo-terminals for tests: a null-modem cable in software.

Opens two ptys, sets both raw, prints {"a": "/dev/pts/N", "b": "/dev/pts/M"} as one JSON
line on stdout, then relays bytes between the two masters until stdin closes or SIGTERM.
Only the standard library is used, so no socat is needed.

The relay keeps its own slave descriptors open so a master never sees a hang-up while a
test closes and reopens a port. When the relay exits, both masters close and each slave is
hung up, which is what an unplugged USB-serial adapter looks like to the reader.
"""
import errno
import fcntl
import json
import os
import select
import signal
import sys
import tty

CHUNK = 65536
MAX_PENDING = 1 << 20  # bytes queued per direction before we stop reading the source


def set_nonblocking(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)


def main() -> int:
    running = True

    def stop(_signum, _frame):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    m_a, s_a = os.openpty()
    m_b, s_b = os.openpty()
    for s in (s_a, s_b):
        tty.setraw(s)
    for m in (m_a, m_b):
        set_nonblocking(m)

    sys.stdout.write(json.dumps({"a": os.ttyname(s_a), "b": os.ttyname(s_b)}) + "\n")
    sys.stdout.flush()

    stdin_fd = sys.stdin.fileno()
    peer = {m_a: m_b, m_b: m_a}
    pending = {m_a: bytearray(), m_b: bytearray()}  # bytes waiting to be written to key

    while running:
        rlist = [stdin_fd] + [m for m in (m_a, m_b) if len(pending[peer[m]]) < MAX_PENDING]
        wlist = [m for m in (m_a, m_b) if pending[m]]
        try:
            readable, writable, _ = select.select(rlist, wlist, [], 1.0)
        except InterruptedError:
            continue
        if stdin_fd in readable:
            if not os.read(stdin_fd, 4096):
                break
        for m in (m_a, m_b):
            if m in readable:
                try:
                    data = os.read(m, CHUNK)
                except OSError as e:
                    # EIO on a master: no slave open right now; nothing to relay.
                    if e.errno in (errno.EAGAIN, errno.EIO):
                        continue
                    raise
                pending[peer[m]] += data
        for m in writable:
            try:
                n = os.write(m, pending[m])
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EIO):
                    continue
                raise
            del pending[m][:n]

    for fd in (m_a, m_b, s_a, s_b):
        try:
            os.close(fd)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
