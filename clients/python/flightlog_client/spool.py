"""The on-disk spool: NDJSON segments, a durable cursor and a lock file.

Layout of a spool directory::

    lock                         flock()ed by the one Recorder using the dir
    cursor.json                  {"segment": N, "offset": BYTES}: all before it was sent
    segment-0000000000000001.ndjson   one step per line, appended and fsynced

Steps are appended to the newest segment; when it exceeds ``segment_bytes``
a new one is started. The sender reads complete lines after the cursor and,
once a batch is acknowledged, rewrites ``cursor.json`` atomically (write a
temporary file, fsync, rename, fsync the directory). Segments wholly before
the cursor are deleted.
"""

import errno
import fcntl
import json
import os
import threading

__all__ = ["Spool", "SpoolFullError", "SpoolLockedError"]

_PREFIX = "segment-"
_SUFFIX = ".ndjson"


class SpoolFullError(RuntimeError):
    """The spool holds ``max_bytes`` already: the step was NOT recorded."""


class SpoolLockedError(RuntimeError):
    """Another Recorder (in this or another process) uses this spool dir."""


def _segment_name(n):
    return "%s%016d%s" % (_PREFIX, n, _SUFFIX)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, directory, *, max_bytes=1 << 30, segment_bytes=8 << 20, fsync=True):
        self.dir = os.path.abspath(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        os.makedirs(self.dir, exist_ok=True)
        self._lock_fd = self._take_lock()
        self._mutex = threading.Lock()  # guards the writer's state below
        try:
            self._open()
        except BaseException:
            self._release_lock()
            raise

    # -- lock ----------------------------------------------------------------
    def _take_lock(self):
        path = os.path.join(self.dir, "lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            try:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            finally:
                os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise SpoolLockedError(
                    "spool directory %s is in use by another Recorder (pid %s); "
                    "give each process its own spool_dir" % (self.dir, holder)) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def _release_lock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    # -- start-up ------------------------------------------------------------
    def _segments(self):
        out = []
        for name in os.listdir(self.dir):
            if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
                try:
                    out.append(int(name[len(_PREFIX):-len(_SUFFIX)]))
                except ValueError:
                    pass
        return sorted(out)

    def _path(self, n):
        return os.path.join(self.dir, _segment_name(n))

    def _open(self):
        for name in os.listdir(self.dir):
            if name.startswith("cursor.json.tmp"):
                os.unlink(os.path.join(self.dir, name))
        cursor = (0, 0)
        try:
            with open(os.path.join(self.dir, "cursor.json")) as f:
                c = json.load(f)
            cursor = (int(c["segment"]), int(c["offset"]))
        except FileNotFoundError:
            pass
        segments = self._segments()
        # Segments wholly sent (a crash between cursor move and unlink).
        for n in [n for n in segments if n < cursor[0]]:
            os.unlink(self._path(n))
        segments = [n for n in segments if n >= cursor[0]]
        if not segments:
            n = max(cursor[0], 1)
            open(self._path(n), "ab").close()
            segments = [n]
        if cursor[0] < segments[0]:
            cursor = (segments[0], 0)
        # The last line of the newest segment may be torn (killed mid-write):
        # record() never returned for it, so it is dropped.
        last = self._path(segments[-1])
        with open(last, "rb+") as f:
            data = f.read()
            keep = data.rfind(b"\n") + 1
            if keep != len(data):
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
        self._cursor = cursor
        self._write_seg = segments[-1]
        self._write_file = open(last, "ab", buffering=0)
        self._write_off = os.fstat(self._write_file.fileno()).st_size
        self._sizes = {n: os.path.getsize(self._path(n)) for n in segments}
        if cursor[0] == self._write_seg and cursor[1] > self._write_off:
            self._cursor = (cursor[0], self._write_off)
        self._read_file = None
        self._read_seg = None

    # -- writer (record) -----------------------------------------------------
    def append(self, line):
        """Appends one encoded NDJSON line durably; returns its end position."""
        with self._mutex:
            if self._write_file is None:
                raise RuntimeError("the spool is closed")
            total = sum(self._sizes.values())
            if total + len(line) > self.max_bytes:
                raise SpoolFullError(
                    "spool %s is full (%d bytes, max_bytes=%d): the step was not recorded; "
                    "is Flightlog reachable?" % (self.dir, total, self.max_bytes))
            if self._write_off > 0 and self._write_off + len(line) > self.segment_bytes:
                self._rotate()
            fd = self._write_file.fileno()
            try:
                view = memoryview(line)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                if self.fsync:
                    os.fsync(fd)
            except BaseException:
                # Disk full or I/O error: take back the partial line so the
                # next step does not get glued to it, and let the caller know.
                try:
                    os.ftruncate(fd, self._write_off)
                except OSError:
                    pass
                raise
            self._write_off += len(line)
            self._sizes[self._write_seg] += len(line)
            return (self._write_seg, self._write_off)

    def _rotate(self):
        if self.fsync:
            os.fsync(self._write_file.fileno())
        self._write_file.close()
        self._write_seg += 1
        self._write_file = open(self._path(self._write_seg), "ab", buffering=0)
        self._write_off = 0
        self._sizes[self._write_seg] = 0
        if self.fsync:
            _fsync_dir(self.dir)

    def end(self):
        with self._mutex:
            return (self._write_seg, self._write_off)

    # -- reader (sender thread) ----------------------------------------------
    def cursor(self):
        return self._cursor

    def read_batch(self, max_records, max_bytes):
        """Complete lines after the cursor: (lines, new_cursor), or ([], None)."""
        while True:
            seg, off = self._cursor
            with self._mutex:
                write_seg, write_off = self._write_seg, self._write_off
            limit = write_off if seg == write_seg else self._sizes.get(seg, 0)
            if off >= limit:
                if seg < write_seg:  # finished an old segment: move on
                    self._advance((seg + 1, 0))
                    continue
                return [], None
            if self._read_seg != seg:
                if self._read_file is not None:
                    self._read_file.close()
                self._read_file = open(self._path(seg), "rb")
                self._read_seg = seg
            self._read_file.seek(off)
            data = self._read_file.read(min(limit - off, max_bytes))
            lines = data.split(b"\n")[:-1]  # only complete lines
            if not lines:  # one line larger than max_bytes (should not happen)
                data += self._read_file.readline()
                lines = [data[:-1]]
            lines = lines[:max_records]
            used = sum(len(l) + 1 for l in lines)
            return [l + b"\n" for l in lines], (seg, off + used)

    def commit(self, new_cursor):
        """Durably records that everything before ``new_cursor`` was sent."""
        self._advance(new_cursor)

    def _advance(self, cursor):
        tmp = os.path.join(self.dir, "cursor.json.tmp")
        with open(tmp, "w") as f:
            json.dump({"segment": cursor[0], "offset": cursor[1]}, f)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.dir, "cursor.json"))
        if self.fsync:
            _fsync_dir(self.dir)
        old = self._cursor[0]
        self._cursor = cursor
        if cursor[0] > old:
            if self._read_file is not None and self._read_seg < cursor[0]:
                self._read_file.close()
                self._read_file, self._read_seg = None, None
            with self._mutex:
                for n in [n for n in self._sizes if n < cursor[0]]:
                    try:
                        os.unlink(self._path(n))
                    except FileNotFoundError:
                        pass
                    del self._sizes[n]

    def close(self):
        with self._mutex:
            if self._write_file is not None:
                self._write_file.close()
                self._write_file = None
        if self._read_file is not None:
            self._read_file.close()
            self._read_file = None
        self._release_lock()
