"""Value files: atomic writes and the integrity digests the manifests carry."""

import hashlib
import os
import sys
import types
import zlib

import pytest

from chard_runtime import files


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(files, "CHUNK", 8)


def write(path, pieces, scheme=files.SCHEME):
    with files._AtomicFile(str(path), scheme) as out:
        for piece in pieces:
            out.write(piece)
        out.commit()
    return out


def test_crc32_chunks_match_the_file_however_it_was_written(tmp_path, small_chunks):
    data = bytes(range(30))
    out = write(tmp_path / "v", [data[:5], data[5:19], data[19:]])
    assert (tmp_path / "v").read_bytes() == data
    expected = ["%08x" % zlib.crc32(data[i:i + 8]) for i in range(0, 30, 8)]
    integrity = out.integrity()
    assert integrity["chunks"] == expected
    assert integrity["sha256"] == hashlib.sha256("\n".join(expected).encode()).hexdigest()
    files._check(memoryview(data), dict(integrity, size=30), "v")


def test_sha256_scheme_is_what_sha256sum_prints(tmp_path):
    out = write(tmp_path / "v", [b"hello ", b"world"], files.SHA256)
    assert out.integrity() == {"hash": "sha256",
                               "sha256": hashlib.sha256(b"hello world").hexdigest()}


def test_a_flipped_byte_is_found_in_its_chunk(tmp_path, small_chunks):
    data = bytearray(range(30))
    integrity = write(tmp_path / "v", [bytes(data)]).integrity()
    data[17] ^= 1
    with pytest.raises(files._Corrupt, match="chunk 3 of 4"):
        files._check(memoryview(bytes(data)), integrity, "v")


def test_checksum_threads_agree_with_one_pass(small_chunks):
    segments = [memoryview(bytes(range(13))), memoryview(bytes(range(100, 140)))]
    whole = b"".join(bytes(s) for s in segments)
    done = []
    chunks = files._checksum_chunks(segments, lambda: done.append(True))
    assert done == [True]
    assert chunks == ["%08x" % zlib.crc32(whole[i:i + 8]) for i in range(0, len(whole), 8)]
    assert files._sha256_of(segments, lambda: None) == hashlib.sha256(whole).hexdigest()


def test_a_failed_write_leaves_neither_the_value_nor_a_temporary_file(tmp_path):
    with pytest.raises(RuntimeError):
        with files._AtomicFile(str(tmp_path / "v")) as out:
            out.write(b"partial")
            raise RuntimeError("serializer failed")
    assert os.listdir(tmp_path) == []


def test_write_text_atomic_replaces_the_whole_file(tmp_path):
    path = tmp_path / "sub" / "manifest.json"
    files.write_text_atomic(str(path), "one\n")
    files.write_text_atomic(str(path), "two\n")
    assert path.read_text() == "two\n" and os.listdir(path.parent) == ["manifest.json"]


def test_a_large_value_reaches_the_file_in_writes_of_at_most_one_mib(tmp_path, monkeypatch):
    # One large write(2) lets the file system back the file with 2 MiB folios, which on a VM
    # whose host took back free memory cost 1 to 14 s per GiB instead of 0.26 s (issue 13).
    sizes = []
    real_write = os.write

    def recording_write(fd, data):
        sizes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(files.os, "write", recording_write)
    data = os.urandom(3 * files.WRITE_PIECE + 12345)
    with files._AtomicFile(str(tmp_path / "raw")) as out:
        out.write_raw(memoryview(data))
        out.commit()
    assert sum(sizes) == len(data) and max(sizes) <= files.WRITE_PIECE
    sizes.clear()
    out = write(tmp_path / "stream", [b"head", data])  # small writes stay buffered
    assert sum(sizes) == len(data) and max(sizes) <= files.WRITE_PIECE
    assert (tmp_path / "raw").read_bytes() == data
    assert (tmp_path / "stream").read_bytes() == b"head" + data
    assert out.integrity()["chunks"] == ["%08x" % zlib.crc32(b"head" + data)]


def test_crc32_comes_from_isal_when_it_is_installed_and_from_zlib_otherwise(monkeypatch):
    isal = types.ModuleType("isal")
    isal.isal_zlib = types.ModuleType("isal.isal_zlib")
    isal.isal_zlib.crc32 = zlib.crc32.__call__  # the same values, another function
    monkeypatch.setitem(sys.modules, "isal", isal)
    monkeypatch.setitem(sys.modules, "isal.isal_zlib", isal.isal_zlib)
    assert files._crc32_function() is isal.isal_zlib.crc32
    monkeypatch.setitem(sys.modules, "isal", None)  # not installed: import fails
    monkeypatch.delitem(sys.modules, "isal.isal_zlib")
    assert files._crc32_function() is zlib.crc32
