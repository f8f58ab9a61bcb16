"""The RDB of a full sync, from a forked child to the replicas' sockets.

Theory of operation
-------------------
A full sync needs a point-in-time image of the keyspace while the master keeps serving:
a forked child has one for free (copy-on-write). Two targets, as Redis:

* disk (repl-diskless-sync no, or a replica without `capa eof`): an ordinary BGSAVE
  (persistence.snapshot) writes dump.rdb; when the child is reaped the file is sent as
  `$<size>\\r\\n<bytes>`. Replicas arriving meanwhile join this transfer.
* sockets (diskless): the child writes the RDB into a pipe; the parent forwards each
  chunk to every replica of the transfer as it arrives, framed as
  `$EOF:<40 random chars>\\r\\n<bytes><the same 40 chars>`.

When the payload is out, `MasterSide.transfer_done(ok)` moves the replicas online.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Any

from redkeep.persistence import snapshot

if TYPE_CHECKING:
    from redkeep.replication.master import AttachedReplica, MasterSide

_EOF_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class Transfer:
    def __init__(self, master: MasterSide, replicas: list[AttachedReplica], to_disk: bool) -> None:
        self.master = master
        self.server = master.server
        self.replicas = replicas
        self.to_disk = to_disk
        self.sent = False           # payload started going out: nobody can join
        self.child_pid: int | None = None
        self.fd: int | None = None
        self.mark = b""

    def start(self) -> bool:
        if self.to_disk:
            if not snapshot.bgsave(self.server):
                return False
            snapshot.state_of(self.server).done_hooks.append(self._disk_done)
            return True
        return self._fork_to_pipe()

    # ---- Disk target ----

    def _disk_done(self, ok: bool) -> None:
        snapshot.state_of(self.server).done_hooks.remove(self._disk_done)
        data = b""
        if ok:
            try:
                with open(snapshot.rdb_path(self.server), "rb") as fh:
                    data = fh.read()
            except OSError as e:
                self.master.log("warning", f"SYNC failed. Can't open/stat DB after BGSAVE: "
                                f"{e.strerror}")
                ok = False
        if ok:
            self.sent = True
            head = b"$%d\r\n" % len(data)
            for r in self.replicas:
                if r.client.id in self.master.replicas:
                    r.client.writer(head + data)
        self.master.transfer_done(ok)

    # ---- Socket target (diskless) ----

    def _fork_to_pipe(self) -> bool:
        rfd, wfd = os.pipe()
        try:
            pid = os.fork()
        except OSError as e:
            os.close(rfd)
            os.close(wfd)
            self.master.log("warning", f"Can't save in background: fork: {e.strerror}")
            return False
        if pid == 0:
            os.close(rfd)
            _child_write(self.server, wfd)     # never returns
        os.close(wfd)
        self.child_pid, self.fd = pid, rfd
        rnd = os.urandom(40)
        self.mark = "".join(_EOF_ALPHABET[b % 36] for b in rnd).encode()
        os.set_blocking(rfd, False)
        self.server.node.loop.add_reader(rfd, self._on_pipe)
        self.master.log("notice", f"Background RDB transfer started by pid {pid}")
        self.sent = True
        head = b"$EOF:%s\r\n" % self.mark
        for r in self.replicas:
            r.client.writer(head)
        return True

    def _on_pipe(self) -> None:
        try:
            chunk = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            for r in self.replicas:
                if r.client.id in self.master.replicas:
                    r.client.writer(chunk)
            return
        self._pipe_closed()

    def _pipe_closed(self) -> None:
        self.server.node.loop.remove_reader(self.fd)
        os.close(self.fd)
        self.fd = None
        ok = _reap(self.child_pid)
        self.child_pid = None
        alive = sum(1 for r in self.replicas if r.client.id in self.master.replicas)
        self.master.log("warning", f"Diskless rdb transfer, done reading from pipe, "
                        f"{alive} replicas still up.")
        if ok:
            for r in self.replicas:
                if r.client.id in self.master.replicas:
                    r.client.writer(self.mark)
            self.master.log("notice", "Background RDB transfer terminated with success")
        else:
            self.master.log("warning", "Background transfer error")
        self.master.transfer_done(ok)

    def abort(self) -> None:
        """Kill a diskless child (REPLICAOF while serving, shutdown)."""
        if self.child_pid is not None:
            try:
                os.kill(self.child_pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass
            _reap(self.child_pid)
            self.child_pid = None
        if self.fd is not None:
            self.server.node.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = None


def _reap(pid: Any) -> bool:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return False
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _child_write(server: Any, fd: int) -> None:
    status = 1
    try:
        snapshot.become_child(server)
        snapshot.emit_rdb(server, lambda data: snapshot.write_all(fd, data))
        status = 0
    except BaseException:  # noqa: BLE001 - the child must always _exit
        pass
    finally:
        os._exit(status)
