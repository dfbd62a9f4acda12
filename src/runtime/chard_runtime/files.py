"""Value files: atomic writes, integrity digests (CRC-32 chunks or sha256) and their checks."""

import hashlib
import os
import re
import tempfile
import zlib


# Files: atomic writes and integrity
#
# A value file is written under a temporary name in its own directory and renamed into place;
# its manifest is written the same way after it. A reader therefore sees no value or a whole
# one, and checks its size and checksums before using it. Nothing is fsynced: values are scratch
# data for the next steps, and a file that a machine crash left torn is refused by that check.
#
# Integrity: the manifest's "hash" names the scheme, which the step spec's "valueDigest" chooses
# for the values a step saves; a consumer checks a value by the scheme its manifest names.
# - "crc32-chunks-64MiB" (the default, valueDigest "crc32"): the CRC-32 of each 64 MiB piece of
#   the file ("chunks") and the sha256 of those checksums joined by newlines ("sha256").
#   Serializers' output is checksummed as it is written; numpy arrays by parallel threads while
#   the file is written. A consumer checks the chunks in parallel threads.
# - "sha256" (valueDigest "sha256"): "sha256" is the sha256 of the whole file, as `sha256sum`
#   prints it; no "chunks". Serializers' output is hashed as it is written; numpy arrays by a
#   helper thread while this thread writes the file (hashlib releases the GIL on large buffers).
#   A consumer hashes the whole file before the value is used.
# sha256 cannot be split across threads: one pass over a large array at each end costs more
# than copying it (about 0.95 CPU-s per GiB each way), so CRC-32, cheaper and able to use every
# core, is the default. CRC-32 is computed by ISA-L (the `isal` package from PyPI, which Chard's
# wheel depends on) where it is importable: the same CRC-32 as zlib's, 0.08 CPU-s per GiB against
# zlib's 0.5 on this project's machine; else by zlib, so the runtime still starts on the standard
# library alone. Both catch torn, truncated and bit-flipped data (no digest stops deliberate
# tampering: the manifest sits beside the value).

CHUNK = 64 * 1024 * 1024


def _crc32_function():
    """zlib.crc32's signature and values, from ISA-L when it is installed."""
    try:
        from isal.isal_zlib import crc32
    except ImportError:
        return zlib.crc32
    return crc32


_crc_update = _crc32_function()
# The largest piece handed to one write(2). A single large write lets the file system back the
# file with large folios (2 MiB pages): the kernel then takes free memory in blocks it may have
# handed back to a virtual machine's host, and touching those again faults page by page on the
# host. On this project's 2-core VM, 64 MiB writes of a 1 GiB array took 1 to 14 s while 1 MiB
# writes took 0.26 s every time (cp: 0.29 s); measured by `npm run bench -- marshal`.
WRITE_PIECE = 1024 * 1024
SCHEME = "crc32-chunks-64MiB"
SHA256 = "sha256"
# The step spec's valueDigest -> the scheme a manifest names.
DIGESTS = {"crc32": SCHEME, "sha256": SHA256}
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class _AtomicFile(object):
    """A temp file in the target's directory, renamed over the target by commit() and removed
    when the `with` block ends without a commit. write() checksums (by `scheme`) and counts what
    goes through it, so serializers can write to it directly."""

    def __init__(self, path, scheme=SCHEME):
        self.path = path
        fd, self.tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                        dir=os.path.dirname(path))
        self.file = os.fdopen(fd, "wb")
        self.size = 0
        self.committed = False
        self.scheme = scheme
        self._chunks = []
        self._crc = 0
        self._sha256 = hashlib.sha256() if scheme == SHA256 else None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if not self.committed:
            try:
                self.file.close()
            except OSError:
                pass  # the error that ended the block is the one to report
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
        return False

    def write(self, data):
        view = memoryview(data).cast("B")
        written = len(view)
        self._write_pieces(view)
        if self._sha256 is not None:
            self._sha256.update(view)
            self.size += written
            return written
        while len(view):
            piece = view[:CHUNK - self.size % CHUNK]
            self._crc = _crc_update(piece, self._crc)
            self.size += len(piece)
            if self.size % CHUNK == 0:
                self._chunks.append("%08x" % self._crc)
                self._crc = 0
            view = view[len(piece):]
        return written

    def integrity(self):
        """The manifest's integrity fields for what write() wrote."""
        if self._sha256 is not None:
            return _integrity(SHA256, digest=self._sha256.hexdigest())
        return _integrity(SCHEME, chunks=self._chunks + (
            ["%08x" % self._crc] if self.size % CHUNK else []))

    def write_raw(self, view):
        """Write a byte view that the caller checksums or hashes."""
        self._write_pieces(view)
        self.size += len(view)

    def _write_pieces(self, view):
        if len(view) <= WRITE_PIECE:
            self.file.write(view)
            return
        self.file.flush()
        fd = self.file.fileno()
        for offset in range(0, len(view), WRITE_PIECE):
            piece = view[offset:offset + WRITE_PIECE]
            while len(piece):
                piece = piece[os.write(fd, piece):]

    def tell(self):
        return self.size

    def flush(self):
        self.file.flush()

    def writable(self):
        return True

    def seekable(self):
        return False

    def readable(self):
        return False

    @property
    def closed(self):
        return False

    def close(self):
        """Serializers may close what they wrote to; commit() closes the real file."""

    def commit(self):
        self.file.close()
        os.replace(self.tmp, self.path)
        self.committed = True


def write_text_atomic(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with _AtomicFile(path) as out:
        out.write(text.encode("utf-8"))
        out.commit()


def _pieces(segments, start, end):
    """Views of the bytes [start, end) of the segments laid end to end (no copy)."""
    views = []
    base = 0
    for segment in segments:
        low, high = max(start - base, 0), min(end - base, len(segment))
        if low < high:
            views.append(segment[low:high])
        base += len(segment)
    return views


def _crc32(views):
    crc = 0
    for view in views:
        crc = _crc_update(view, crc)
    return "%08x" % crc


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _checksum_chunks(segments, work=None):
    """The CRC-32 of each CHUNK of the segments laid end to end, computed by a pool of threads
    (zlib and ISA-L release the GIL on large buffers) while this thread does `work` (writes the
    file); then this thread takes the chunks no pool thread has started yet."""
    from concurrent.futures import ThreadPoolExecutor
    size = sum(len(s) for s in segments)
    pieces = [_pieces(segments, start, start + CHUNK) for start in range(0, size, CHUNK)]
    if len(pieces) <= 1:  # no threads for a small value
        if work is not None:
            work()
        return [_crc32(piece) for piece in pieces]
    workers = max(1, min(_cpus() - 1, 8))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chard-crc") as pool:
        futures = [pool.submit(_crc32, piece) for piece in pieces]
        try:
            if work is not None:
                work()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        # From the last chunk back, so that this thread and the pool meet in the middle.
        done = [_crc32(piece) if future.cancel() else future.result()
                for piece, future in reversed(list(zip(pieces, futures)))]
        return done[::-1]


def _sha256_of(segments, work=None):
    """The hex sha256 of the segments laid end to end. With `work`, a helper thread hashes
    (hashlib releases the GIL on large buffers) while this thread does the work (writes the
    file); the helper stops at the next chunk when the work fails."""
    digest = hashlib.sha256()
    if work is None or sum(len(s) for s in segments) <= CHUNK:  # no thread for a small value
        if work is not None:
            work()
        for segment in segments:
            digest.update(segment)
        return digest.hexdigest()
    import threading
    stop = threading.Event()
    failed = []

    def hash_all():
        try:
            for segment in segments:
                for offset in range(0, len(segment), CHUNK):
                    if stop.is_set():
                        return
                    digest.update(segment[offset:offset + CHUNK])
        except BaseException as e:
            failed.append(e)

    thread = threading.Thread(target=hash_all, name="chard-sha256", daemon=True)
    thread.start()
    try:
        work()
    except BaseException:
        stop.set()
        raise
    finally:
        thread.join()
    if failed:
        raise failed[0]
    return digest.hexdigest()


def _integrity(scheme, chunks=None, digest=None):
    """The manifest's integrity fields: "hash" (the scheme), "sha256" and, for CRC-32, "chunks"."""
    if scheme == SHA256:
        return {"hash": SHA256, "sha256": digest}
    return {"hash": SCHEME, "sha256": _digest_of_chunks(chunks), "chunks": chunks}


def _digest_of_chunks(chunks):
    return hashlib.sha256("\n".join(chunks).encode("ascii")).hexdigest()


class _Corrupt(Exception):
    """A value file that does not match its manifest."""


def _check(view, manifest, path, work=None):
    """Raise _Corrupt unless view holds the bytes the manifest describes (by the scheme the
    manifest names); `work` runs on this thread meanwhile."""
    if view is None:
        raise _Corrupt("%s is shorter than its manifest says" % path)
    if manifest["hash"] == SHA256:
        if _sha256_of([view], work) != manifest["sha256"]:
            raise _Corrupt("the sha256 of %s does not match its manifest" % path)
        return
    actual = _checksum_chunks([view], work)
    expected = manifest["chunks"]
    if actual != expected:
        first = next((i for i, pair in enumerate(zip(actual, expected)) if pair[0] != pair[1]),
                     min(len(actual), len(expected)))
        raise _Corrupt("the CRC-32 of chunk %d of %d of %s does not match its manifest" % (
            first + 1, len(expected), path))


def _read_whole(f, size, writable):
    """The whole file as a view of `size` bytes: a map of it (copy-on-write when writable;
    values are replaced by rename, never rewritten in place), or its bytes read into memory
    where files cannot be mapped. None when the file is shorter than size."""
    if size > 0:
        import mmap
        access = mmap.ACCESS_COPY if writable else mmap.ACCESS_READ
        try:
            return memoryview(mmap.mmap(f.fileno(), 0, access=access))
        except (OSError, ValueError):
            pass
    data = memoryview(bytearray(size))
    f.seek(0)
    offset = 0
    while offset < size:
        n = f.readinto(data[offset:offset + CHUNK])
        if not n:
            return None
        offset += n
    return data
