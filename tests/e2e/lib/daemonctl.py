"""The control socket of dnsjail's daemons, as the standalone e2e scripts talk to it (see
lib/jail/control.h): one request byte (W with a pidfd), one reply byte; and the start of a daemon
by hand with the descriptors the hook would give it."""
import os
import socket


def control(path, op, watch_pid=None):
    """Prints the reply byte (or "none"), then for Q whether the connection reached EOF."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(3)
    s.connect(path)
    if watch_pid is not None:
        fd = os.pidfd_open(int(watch_pid))
        socket.send_fds(s, [op.encode()], [fd])
        os.close(fd)
    else:
        s.send(op.encode())
    try:
        reply = s.recv(16)
    except socket.timeout:
        reply = b""
    words = [reply.decode() or "none"]
    if op == "Q":
        try:
            words.append("eof" if s.recv(16) == b"" else "data")
        except socket.timeout:
            words.append("no-eof")
        except ConnectionResetError:
            words.append("eof")
    print(" ".join(words))
    return 0


def launch(args):
    # launch CTLPATH|- WATCHPID|- PROG ARGS...: exec the daemon PROG (same pid) with a
    # listening control socket for {CTL} and a pidfd of WATCHPID for {PIDFD}.
    ctl_path, watch_pid, prog = args[0], args[1], args[2]
    subst = {}
    if ctl_path != "-":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(ctl_path)
        s.listen(16)
        os.set_inheritable(s.fileno(), True)
        subst["{CTL}"] = str(s.fileno())
    if watch_pid != "-":
        fd = os.pidfd_open(int(watch_pid))
        os.set_inheritable(fd, True)
        subst["{PIDFD}"] = str(fd)
    os.execv(prog, [prog] + [subst.get(a, a) for a in args[3:]])
