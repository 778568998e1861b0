"""setns(2) for the test tools that hold sockets inside another network namespace from outside
it (foreign-server.py, fake-engine-dns.py): enter the namespace, make the socket, come back."""
import ctypes
import os

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    """Moves the calling thread into the network namespace open at FD."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
