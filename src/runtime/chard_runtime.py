"""Chard step runtime: runs one pipeline step described by a step spec (JSON).

    python3 chard_runtime.py --spec FILE | --spec-json JSON
        [--data-dir DIR] [--workdir DIR] [--param NAME=VALUE]... [--input NAME=DIR]...
        [--output NAME=DIR]... [--metrics-file FILE]

The contract is documented in src/core/stepspec.ts. In order, the runtime:
  1. restores the pipeline parameters (spec defaults, overridden by --param, parsed by type),
  2. verifies every input value (its size and checksums or sha256, see "Files" below) and
     loads it,
  3. runs the code blocks (imports, functions, then the step's cells) in one global namespace
     whose ``__name__`` is ``'__main__'``, in the working directory, with IPython syntax support,
  4. saves the outputs (atomically, next to a manifest) and records the metrics.

An input whose pickle refers to a class the notebook defines (``__main__.Foo``) is loaded as soon
as the code blocks define it (the functions cells run first), and at the latest before the first
block that reads it.

Exit codes: 0 success, 1 failure in the notebook code or while marshalling, 2 bad spec or usage.
On failure the last line on stderr is ``CHARD_ERROR {json}`` with cell, line, type and message.
Only the standard library is imported up front; numpy, pandas, joblib, torch, dill, cloudpickle,
pyarrow and IPython are imported only when a value or a cell needs them. Python >= 3.8.
--param values for parameters this step does not read are ignored (a runner may pass every
pipeline parameter to every step).
"""

import argparse
import builtins
import hashlib
import io
import json
import linecache
import math
import os
import pickle
import re
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
import types
import zlib

RUNTIME_FILE = os.path.abspath(__file__)
MANIFEST = "manifest.json"
VALUE_STEM = "value"
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CELL_FILE = re.compile(r"^<cell (\d+)>$")
PARAM_TYPES = ("int", "float", "str", "bool")
ADVICE = "recreate it in the consuming step, or mark the cell that creates it `skip`"


class UsageError(Exception):
    """Bad command line or spec: exit 2."""


class MarshalError(Exception):
    """A value cannot be saved or loaded: exit 1."""


def log(message):
    sys.stdout.flush()
    sys.stderr.write("chard: " + message + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# Command line and spec


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_args(argv):
    parser = _ArgumentParser(prog="chard_runtime.py", add_help=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", help="step spec JSON file")
    source.add_argument("--spec-json", help="step spec as a JSON string")
    parser.add_argument("--data-dir")
    parser.add_argument("--workdir")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--output", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--metrics-file")
    return parser.parse_args(argv)


def _pairs(items, option):
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError("%s expects NAME=VALUE, got %s" % (option, json.dumps(item)))
        result[name] = value
    return result


def _require(cond, message):
    if not cond:
        raise UsageError("invalid step spec: " + message)


def _check_ident(name, what):
    _require(isinstance(name, str) and IDENT.match(name) is not None,
             "%s must be a Python identifier, got %s" % (what, json.dumps(name)))


def load_spec(args):
    if args.spec is not None:
        try:
            with open(args.spec, "r", encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise UsageError("cannot read spec file %s: %s" % (args.spec, e.strerror or e))
    else:
        text = args.spec_json
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise UsageError("step spec is not valid JSON: %s" % e)
    _require(isinstance(spec, dict), "expected a JSON object")
    _require(spec.get("version") == 1, "unsupported version %s" % json.dumps(spec.get("version")))
    for key in ("pipeline", "step", "stepId", "dataDir", "workdir"):
        _require(isinstance(spec.get(key), str), "%s must be a string" % key)
    _require(DNS_LABEL.match(spec["stepId"]) is not None, "stepId must be a DNS-1123 label")
    code = spec.get("code")
    _require(isinstance(code, list), "code must be a list")
    for block in code:
        _require(isinstance(block, dict) and isinstance(block.get("source"), str)
                 and isinstance(block.get("cell"), int) and not isinstance(block.get("cell"), bool)
                 and block["cell"] >= 0, "each code block needs a cell index and a source string")
    params = spec.get("parameters")
    _require(isinstance(params, dict), "parameters must be an object")
    for name, p in params.items():
        _check_ident(name, "parameter name")
        _require(isinstance(p, dict) and p.get("type") in PARAM_TYPES,
                 "parameter %s needs a type among %s" % (name, ", ".join(PARAM_TYPES)))
        _require(_type_ok(p["type"], p.get("value")),
                 "parameter %s: default %s is not a %s" % (
                     name, json.dumps(p.get("value")), p["type"]))
    inputs = spec.get("inputs")
    _require(isinstance(inputs, list), "inputs must be a list")
    for i in inputs:
        _require(isinstance(i, dict), "each input must be an object")
        _check_ident(i.get("name"), "input name")
        _require(isinstance(i.get("from"), str), "input %s needs a producer step" % i["name"])
        _require(isinstance(i.get("fromId"), str) and DNS_LABEL.match(i["fromId"]) is not None,
                 "input %s: fromId must be a DNS-1123 label" % i["name"])
    for key in ("outputs", "metrics"):
        _require(isinstance(spec.get(key), list), "%s must be a list" % key)
        for name in spec[key]:
            _check_ident(name, key[:-1] + " name")
    digest = spec.get("valueDigest", "crc32")
    _require(isinstance(digest, str) and digest in DIGESTS,
             "valueDigest must be one of %s, got %s" % (
                 ", ".join(sorted(DIGESTS)), json.dumps(spec.get("valueDigest"))))
    return spec


def _type_ok(ptype, value):
    if ptype == "bool":
        return isinstance(value, bool)
    if ptype == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if ptype == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def parse_param(name, ptype, text):
    try:
        if ptype == "int":
            return int(text.strip(), 10)
        if ptype == "float":
            return float(text.strip())
        if ptype == "bool":
            word = text.strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise ValueError(text)
        return text
    except ValueError:
        raise UsageError("parameter %s expects %s %s, got %s" % (
            name, "an" if ptype == "int" else "a", ptype, json.dumps(text)))


def resolve_parameters(spec, overrides):
    values = {}
    for name, p in spec["parameters"].items():
        value = p["value"]
        if p["type"] == "float":
            value = float(value)
        if name in overrides:
            value = parse_param(name, p["type"], overrides[name])
        values[name] = value
    return values


# ---------------------------------------------------------------------------------------------
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
# than copying it (about 0.75 CPU-s per GiB each way), so CRC-32, three times cheaper and able to
# use every core, is the default. Both catch torn, truncated and bit-flipped data (no digest
# stops deliberate tampering: the manifest sits beside the value).

CHUNK = 64 * 1024 * 1024
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
        self.file.write(view)
        if self._sha256 is not None:
            self._sha256.update(view)
            self.size += written
            return written
        while len(view):
            piece = view[:CHUNK - self.size % CHUNK]
            self._crc = zlib.crc32(piece, self._crc)
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
        """Write a byte view that the caller checksums or hashes, a chunk per call."""
        for offset in range(0, len(view), CHUNK):
            self.file.write(view[offset:offset + CHUNK])
        self.size += len(view)

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
        crc = zlib.crc32(view, crc)
    return "%08x" % crc


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _checksum_chunks(segments, work=None):
    """The CRC-32 of each CHUNK of the segments laid end to end, computed by a pool of threads
    (zlib releases the GIL on large buffers) while this thread does `work` (writes the file);
    then this thread takes the chunks no pool thread has started yet."""
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


# ---------------------------------------------------------------------------------------------
# Marshalling


def _type_name(value):
    t = type(value)
    return "%s.%s" % (getattr(t, "__module__", "?"), getattr(t, "__qualname__", t.__name__))


def _is_instance(value, module, path):
    mod = sys.modules.get(module)
    if mod is None:
        return False
    obj = mod
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    try:
        return isinstance(value, obj)
    except TypeError:
        return False


def _defined_in_notebook(value):
    if isinstance(value, (types.FunctionType, type)):
        return getattr(value, "__module__", None) == "__main__"
    return False


def _optional(module):
    try:
        return __import__(module)
    except Exception:
        return None


PICKLERS = ["pickle", "dill", "cloudpickle"]


def choose_backends(value):
    """Backends to try, in order."""
    if isinstance(value, types.ModuleType) and sys.modules.get(value.__name__) is value:
        return ["module"]
    np = sys.modules.get("numpy")
    if np is not None and type(value) is np.ndarray and not value.dtype.hasobject:
        return ["numpy"] + PICKLERS
    if _is_instance(value, "pandas", "DataFrame") or _is_instance(value, "pandas", "Series"):
        if _optional("pyarrow") is not None and _parquet_safe(value):
            return ["parquet"] + PICKLERS
        return PICKLERS
    if _holds_torch(value):
        # torch.save is pickle plus tensor storages written once each, raw: views keep sharing
        # their storage. It pickles classes by reference like pickle (a module whose class the
        # notebook defines needs that class in the consumer); when it fails, dill and
        # cloudpickle save the value and such classes by value.
        return ["torch", "dill", "cloudpickle"]
    if _is_instance(value, "sklearn", "base.BaseEstimator"):
        return ["joblib"] + PICKLERS
    if _defined_in_notebook(value):
        # By value, so the consumer does not need the definition; plain pickle as the last resort.
        return ["dill", "cloudpickle", "pickle"]
    return PICKLERS


def _holds_torch(value, depth=0, budget=None):
    """A torch tensor or module, or a dict/list/tuple (a state_dict, an optimizer's state, a
    batch) holding one within a few levels."""
    if "torch" not in sys.modules:
        return False
    if _is_instance(value, "torch", "Tensor") or _is_instance(value, "torch", "nn.Module"):
        return True
    if depth >= 4 or not isinstance(value, (dict, list, tuple)):
        return False
    budget = budget if budget is not None else [1000]
    try:
        for item in (value.values() if isinstance(value, dict) else value):
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if _holds_torch(item, depth + 1, budget):
                return True
    except Exception:  # a container subclass that cannot be walked: pickle decides
        pass
    return False


def _parquet_safe(value):
    """Parquet only where it round-trips exactly: string column names, no mixed object columns."""
    pd = sys.modules["pandas"]
    if isinstance(value, pd.Series):
        if not isinstance(value.name, str):
            return False
        frame = value.to_frame()
    else:
        frame = value
    if not all(isinstance(c, str) for c in frame.columns) or not frame.columns.is_unique:
        return False
    if getattr(frame, "attrs", None):
        return False
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object:
            if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
                return False
    return True


EXTENSIONS = {"numpy": ".npy", "parquet": ".parquet", "joblib": ".joblib", "torch": ".pt",
              "pickle": ".pkl", "dill": ".dill", "cloudpickle": ".cloudpickle",
              "module": ".module"}

# The library a consumer needs to load a backend's files.
LIBRARIES = {"numpy": "numpy", "parquet": "pyarrow", "joblib": "joblib", "torch": "torch",
             "dill": "dill", "cloudpickle": "cloudpickle"}


class _BackendUnavailable(Exception):
    pass


def _npy_parts(value):
    """The .npy header (as np.save writes it) and a byte view of the array's data, which is
    copied only when the array is neither C- nor Fortran-contiguous."""
    np = sys.modules["numpy"]
    fmt = np.lib.format
    if value.flags.c_contiguous:
        data, fortran = value, False
    elif value.flags.f_contiguous:
        data, fortran = value.T, True
    else:
        data, fortran = np.ascontiguousarray(value), False
    header = {"descr": fmt.dtype_to_descr(value.dtype), "fortran_order": fortran,
              "shape": value.shape}
    head = io.BytesIO()
    try:
        fmt.write_array_header_1_0(head, header)
    except ValueError:
        head = io.BytesIO()
        fmt.write_array_header_2_0(head, header)
    body = data.reshape(-1).view(np.uint8) if data.size else np.empty(0, np.uint8)
    return memoryview(head.getvalue()), memoryview(body)


def _save_numpy(value, out):
    """Write value as .npy into out; returns the manifest's integrity fields (out.scheme)."""
    head, body = _npy_parts(value)

    def write():
        out.write_raw(head)
        out.write_raw(body)

    if out.scheme == SHA256:
        return _integrity(SHA256, digest=_sha256_of([head, body], write))
    return _integrity(SCHEME, chunks=_checksum_chunks([head, body], write))


def _load_numpy(path, manifest):
    """The array, backed by a copy-on-write map of the file, once every chunk is verified
    (numpy is imported and the header read meanwhile). Raises _Corrupt when the file does not
    match its manifest."""
    with open(path, "rb") as f:
        view = _read_whole(f, manifest["size"], writable=True)
        header = []
        _check(view, manifest, path, lambda: header.append(_npy_header(f, path, manifest)))
    shape, fortran, dtype, offset = header[0]
    return sys.modules["numpy"].ndarray(shape, dtype=dtype, buffer=view, offset=offset,
                                        order="F" if fortran else "C")


def _npy_header(f, path, manifest):
    """(shape, fortran order, dtype, data offset) from the header of the .npy file f."""
    np = sys.modules.get("numpy") or __import__("numpy")
    fmt = np.lib.format
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    f.seek(0)
    version = fmt.read_magic(f)
    if version not in readers:
        raise ValueError("unsupported .npy format version %d.%d" % version)
    shape, fortran, dtype = readers[version](f)
    if dtype.hasobject:
        raise ValueError("the .npy file holds Python objects; refusing to unpickle it")
    offset = f.tell()
    if offset + math.prod(shape) * dtype.itemsize != manifest["size"]:
        raise _Corrupt("the .npy header of %s does not match its size" % path)
    return shape, fortran, dtype, offset


def _pickle_module(backend):
    if backend == "pickle":
        return pickle
    module = _optional(backend)
    if module is None:
        raise _BackendUnavailable(backend)
    return module


def _save_stream(backend, value, out):
    if backend == "parquet":
        pd = sys.modules["pandas"]
        frame = value.to_frame() if isinstance(value, pd.Series) else value
        frame.to_parquet(out, engine="pyarrow")
    elif backend == "joblib":
        joblib = _optional("joblib")
        if joblib is None:
            raise _BackendUnavailable(backend)
        joblib.dump(value, out)
    elif backend == "torch":
        sys.modules["torch"].save(value, out)
    elif backend == "module":
        out.write(value.__name__.encode("utf-8"))
    else:
        _pickle_module(backend).dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)


def _load_stream(backend, f, type_name):
    if backend == "parquet":
        pd = __import__("pandas")
        frame = pd.read_parquet(f, engine="pyarrow")
        if type_name.endswith(".Series"):
            return frame.iloc[:, 0]
        return frame
    if backend == "torch":
        torch = __import__("torch")
        # Tensors saved on a GPU load onto the CPU where this step has none (a training step on a
        # GPU node feeding an evaluation step on a CPU node); elsewhere they stay where they were.
        where = None if torch.cuda.is_available() else "cpu"
        try:
            return torch.load(f, map_location=where, weights_only=False)
        except TypeError:
            f.seek(0)
            return torch.load(f, map_location=where)
    if backend == "module":
        import importlib
        return importlib.import_module(f.read().decode("utf-8"))
    if backend == "pickle":
        return pickle.load(f)
    return __import__(backend).load(f)  # joblib, dill, cloudpickle


def save_value(name, value, directory, step, scheme=SCHEME):
    """Write value + manifest.json into directory atomically, with the integrity `scheme`.
    Returns the manifest."""
    os.makedirs(directory, exist_ok=True)
    type_name = _type_name(value)
    reasons = []
    started = time.time()
    for backend in choose_backends(value):
        path = os.path.join(directory, VALUE_STEM + EXTENSIONS[backend])
        with _AtomicFile(path, scheme) as out:
            try:
                if backend == "numpy":
                    integrity = _save_numpy(value, out)
                else:
                    _save_stream(backend, value, out)
                    integrity = out.integrity()
            except OSError:
                raise  # the file system failed, not the serializer
            except _BackendUnavailable:
                continue
            except Exception as e:
                reasons.append("%s: %s" % (backend, _one_line(e)))
                log("could not save %s with %s (%s); trying the next serializer" % (
                    name, backend, _one_line(e)))
                continue
            out.commit()
        manifest = {"name": name, "type": type_name, "backend": backend,
                    "file": os.path.basename(path), "size": out.size}
        manifest.update(integrity)
        if backend == "module":
            manifest["module"] = value.__name__
        manifest["step"] = step
        write_text_atomic(os.path.join(directory, MANIFEST), json.dumps(manifest, indent=2) + "\n")
        _remove_stale(directory, os.path.basename(path))
        _log_transfer("saved", name, type_name, backend, out.size, time.time() - started)
        return manifest
    if not reasons:
        reasons.append("no serializer available (install dill or cloudpickle)")
    raise MarshalError("cannot save output %s (%s) of step %s: %s; %s" % (
        json.dumps(name), type_name, json.dumps(step), "; ".join(reasons), ADVICE))


def _remove_stale(directory, keep):
    for entry in os.listdir(directory):
        if entry.startswith(VALUE_STEM + ".") and entry != keep:
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:
                pass


def _log_transfer(verb, name, type_name, backend, size, seconds):
    rate = ""
    if size >= 1e6 and seconds > 0:
        rate = " (%.0f MB/s)" % (size / 1e6 / seconds)
    log("%s %s (%s, %s, %d bytes) in %.3f s%s" % (verb, name, type_name, backend, size, seconds,
                                                 rate))


def _valid_manifest(manifest):
    if not (isinstance(manifest, dict) and isinstance(manifest.get("file"), str)
            and manifest["file"] == os.path.basename(manifest["file"])
            and manifest["file"] not in ("", ".", "..")
            and manifest.get("backend") in EXTENSIONS
            and isinstance(manifest.get("size"), int)
            and isinstance(manifest.get("sha256"), str)):
        return False
    if manifest.get("hash") == SHA256:
        return SHA256_HEX.match(manifest["sha256"]) is not None
    chunks = manifest.get("chunks")
    return (manifest.get("hash") == SCHEME and isinstance(chunks, list)
            and all(isinstance(c, str) for c in chunks)
            and len(chunks) == -(-manifest["size"] // CHUNK)
            and _digest_of_chunks(chunks) == manifest["sha256"])


class InputValue(object):
    """One input: verified on disk, then loaded (possibly after the code defines its classes)."""

    def __init__(self, name, producer, directory):
        self.name = name
        self.producer = producer
        self.directory = directory
        self.manifest = None
        self.verified = False
        self.loaded = False
        self.value = None

    def _fail(self, problem):
        raise MarshalError("input %s from step %s %s" % (
            json.dumps(self.name), json.dumps(self.producer), problem))

    def read_manifest(self):
        path = os.path.join(self.directory, MANIFEST)
        try:
            with open(path, "r", encoding="utf-8") as f:
                manifest = json.load(f)
        except FileNotFoundError:
            self._fail("is missing: no %s (did step %s run and succeed?)" % (
                path, json.dumps(self.producer)))
        except (OSError, ValueError) as e:
            self._fail("has an unreadable manifest %s: %s" % (path, _one_line(e)))
        scheme = manifest.get("hash") if isinstance(manifest, dict) else None
        if isinstance(scheme, str) and scheme not in DIGESTS.values():
            self._fail("has a manifest %s with the integrity scheme %s, which this version of "
                       "Chard does not know (it knows %s); run step %s again with this version" % (
                           path, json.dumps(scheme),
                           " and ".join(json.dumps(s) for s in sorted(DIGESTS.values())),
                           json.dumps(self.producer)))
        if not _valid_manifest(manifest):
            self._fail("has an invalid manifest %s" % path)
        self.manifest = manifest
        self.path = os.path.join(self.directory, manifest["file"])
        try:
            actual = os.stat(self.path).st_size
        except OSError:
            self._fail("is missing: %s does not exist" % self.path)
        if actual != manifest["size"]:
            self._fail("is corrupt: %s has %d bytes, the manifest says %d" % (
                self.path, actual, manifest["size"]))

    def verify(self):
        """Check the digests (numpy arrays: when loaded, on the very bytes the array uses)."""
        if self.manifest["backend"] != "numpy" and not self.verified:
            with open(self.path, "rb") as f:
                view = _read_whole(f, self.manifest["size"], writable=False)
            try:
                _check(view, self.manifest, self.path)
            except _Corrupt as e:
                self._fail("is corrupt: %s" % e)
            self.verified = True

    def load(self, strict):
        """Load the value; on an unpickling error return False unless strict."""
        started = time.time()
        backend = self.manifest["backend"]
        type_name = str(self.manifest.get("type", "?"))
        if backend == "numpy":
            try:
                value = _load_numpy(self.path, self.manifest)
            except _Corrupt as e:
                self._fail("is corrupt: %s" % e)
            except Exception as e:
                self._fail("is corrupt or unreadable: %s" % _one_line(e))
        else:
            try:
                with open(self.path, "rb") as f:
                    value = _load_stream(backend, f, type_name)
            except (AttributeError, ImportError) as e:
                if not strict:
                    return False
                self._fail("(%s) cannot be loaded: %s%s" % (type_name, _one_line(e),
                                                            _load_hint(e, backend)))
            except MarshalError:
                raise
            except Exception as e:
                self._fail("(%s, %s) cannot be loaded: %s" % (type_name, backend, _one_line(e)))
        self.value = value
        self.loaded = True
        _log_transfer("loaded", self.name, type_name, backend, self.manifest["size"],
                      time.time() - started)
        return True


def _load_hint(e, backend):
    """What to do about an input that needs a definition or a library this step lacks."""
    if "__main__" in str(e):
        return ("; it needs a class or function the notebook defines: define it in a cell "
                "tagged `functions` so every step has it")
    missing = getattr(e, "name", None) or LIBRARIES.get(backend)
    if isinstance(e, ImportError) and missing:
        return "; install %s in this step's image (the producing step had it)" % missing
    return ""


def _one_line(e):
    text = str(e).strip().replace("\n", " ")
    return "%s: %s" % (type(e).__name__, text) if text else type(e).__name__


# ---------------------------------------------------------------------------------------------
# IPython syntax


class SList(list):
    """What `x = !cmd` returns: a list of lines with IPython's .s/.n/.l/.p views."""

    @property
    def l(self):  # noqa: E743
        return list(self)

    @property
    def s(self):
        return " ".join(self)

    @property
    def n(self):
        return "\n".join(self)

    @property
    def p(self):
        return list(self)

    def __reduce__(self):
        return (list, (list(self),))


class CapturedIO(object):
    def __init__(self, stdout, stderr):
        self.stdout = stdout
        self.stderr = stderr
        self.outputs = []

    def show(self):
        sys.stdout.write(self.stdout)
        sys.stderr.write(self.stderr)

    __call__ = show


def _caller_position(depth):
    """(cell, line) of the notebook code that called the shim, or (None, 1)."""
    frame = sys._getframe(depth + 1)
    while frame is not None:
        m = CELL_FILE.match(frame.f_code.co_filename)
        if m:
            return int(m.group(1)), frame.f_lineno, frame
        frame = frame.f_back
    return None, 1, None


def _compile_at(source, cell, line, mode):
    filename = "<cell %d>" % cell if cell is not None else "<magic>"
    return compile("\n" * (max(line, 1) - 1) + source, filename, mode, dont_inherit=True)


ALIASES = ("cat", "cp", "ls", "mkdir", "mv", "rm", "rmdir", "ln")


class Shell(object):
    """The small part of IPython's InteractiveShell that notebook cells use."""

    def __init__(self, namespace):
        self.user_ns = namespace
        self.warned = set()
        self.escapes = []

    # -- shell commands
    def var_expand(self, cmd, frame):
        scope = dict(self.user_ns)
        if frame is not None and frame.f_locals is not frame.f_globals:
            scope.update(frame.f_locals)
        try:
            from IPython.utils.text import DollarFormatter
        except Exception:
            DollarFormatter = None
        if DollarFormatter is not None:
            try:
                return DollarFormatter().vformat(cmd, args=[], kwargs=scope)
            except Exception:
                return cmd

        def sub(m):
            key = m.group(1) or m.group(2)
            return str(scope[key]) if key in scope else m.group(0)

        return re.sub(r"\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)", sub, cmd)

    def system(self, cmd):
        _, _, frame = _caller_position(1)
        cmd = self.var_expand(cmd, frame)
        sys.stdout.flush()
        sys.stderr.flush()
        code = subprocess.call(cmd, shell=True)
        self.user_ns["_exit_code"] = code
        return None

    system_raw = system

    def getoutput(self, cmd, split=True, depth=0):
        _, _, frame = _caller_position(1 + depth)
        cmd = self.var_expand(cmd, frame)
        sys.stdout.flush()
        proc = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        text = proc.stdout.decode("utf-8", "replace")
        self.user_ns["_exit_code"] = proc.returncode
        return SList(text.splitlines()) if split else text

    # -- magics
    def _skip(self, what, reason):
        if what not in self.warned:
            self.warned.add(what)
            log("skipped %s: %s" % (what, reason))

    def run_line_magic(self, magic_name, line, _stack_depth=1):
        """IPython's signature; called by IPython-transformed cells."""
        cell, lineno, frame = _caller_position(1)
        name = magic_name
        if name == "time":
            return self._time(line, cell, lineno, frame)
        if name == "timeit":
            return self._timeit(line, None, cell, lineno, frame)
        if name == "env":
            return self._env(line)
        if name == "cd":
            return self._cd(line)
        if name == "pwd":
            return os.getcwd()
        if name in ("sx", "system"):
            return self.getoutput(line, depth=1)
        if name in ALIASES:
            return self.system("%s %s" % (name, line))
        if name == "matplotlib":
            return None
        if name in ("pip", "conda", "mamba"):
            self._skip("%%%s %s" % (name, line), "packages are not installed at run time; "
                       "put them in the step image")
            return None
        if name in ("pinfo", "pinfo2"):
            self._skip("%s?" % line, "help does nothing in a pipeline step")
            return None
        self._skip("%%%s" % name, "this magic is not supported in a pipeline step")
        return None

    def run_cell_magic(self, magic_name, line, cell_source):
        cell, lineno, frame = _caller_position(1)
        body_line = lineno + 1
        name = magic_name
        if name == "time":
            return self._time(cell_source, cell, body_line, frame, cell_mode=True)
        if name == "timeit":
            return self._timeit(line, cell_source, cell, body_line, frame)
        if name == "capture":
            return self._capture(line, cell_source, cell, body_line, frame)
        if name == "writefile":
            return self._writefile(line, cell_source)
        if name in ("bash", "sh"):
            return self._script(name, line, cell_source)
        if name in ("pip", "conda"):
            self._skip("%%" + name, "packages are not installed at run time; put them in the "
                       "step image")
            return None
        self._skip("%%%%%s cell" % name, "this cell magic is not supported in a pipeline step")
        return None

    def magic(self, arg_s):
        name, _, rest = arg_s.lstrip("%").partition(" ")
        return self.run_line_magic(name, rest)

    def _scope(self, frame):
        if frame is not None and frame.f_locals is not frame.f_globals:
            return frame.f_globals, frame.f_locals
        return self.user_ns, self.user_ns

    def _run(self, source, cell, line, frame):
        """exec/eval source as notebook code; returns the value of a lone expression."""
        g, l = self._scope(frame)
        try:
            code = _compile_at(source, cell, line, "eval")
        except SyntaxError:
            code = _compile_at(source, cell, line, "exec")
            exec(code, g, l)
            return None
        return eval(code, g, l)

    def _time(self, source, cell, line, frame, cell_mode=False):
        wall0, cpu0 = time.time(), os.times()
        try:
            result = self._run(source, cell, line, frame) if not cell_mode else self._exec_cell(
                source, cell, line, frame)
        finally:
            wall, cpu = time.time() - wall0, os.times()
            user, system = cpu.user - cpu0.user, cpu.system - cpu0.system
            print("CPU times: user %s, sys: %s, total: %s" % (
                _fmt_time(user), _fmt_time(system), _fmt_time(user + system)))
            print("Wall time: %s" % _fmt_time(wall))
        return result

    def _exec_cell(self, source, cell, line, frame):
        g, l = self._scope(frame)
        exec(_compile_at(source, cell, line, "exec"), g, l)
        return None

    def _timeit(self, line, cell_source, cell, lineno, frame):
        import timeit as timeit_module
        opts = {}
        tokens = line.split()
        rest_at = 0
        while rest_at < len(tokens) and tokens[rest_at].startswith("-"):
            flag = tokens[rest_at]
            if flag in ("-n", "-r", "-p") and rest_at + 1 < len(tokens):
                opts[flag] = tokens[rest_at + 1]
                rest_at += 2
            else:
                opts[flag] = True
                rest_at += 1
        rest = " ".join(tokens[rest_at:])
        if cell_source is None:
            setup, stmt, stmt_line = "pass", rest, lineno
        else:
            setup, stmt, stmt_line = rest or "pass", cell_source, lineno
        g, l = self._scope(frame)
        scope = dict(g)
        if l is not g:
            scope.update(l)
        code = _compile_at(stmt, cell, stmt_line, "exec")
        setup_code = compile(setup, "<timeit setup>", "exec")

        def inner(n):
            exec(setup_code, scope)
            start = time.perf_counter()
            for _ in range(n):
                exec(code, scope)
            return time.perf_counter() - start

        number = int(opts.get("-n", 0))
        if not number:
            number = 1
            while inner(number) < 0.2 and number < 10 ** 9:
                number *= 10
        repeat = int(opts.get("-r", 7))
        runs = [inner(number) / number for _ in range(repeat)]
        best = min(runs)
        if "-q" not in opts:
            mean = sum(runs) / len(runs)
            std = (sum((r - mean) ** 2 for r in runs) / len(runs)) ** 0.5
            print("%s ± %s per loop (mean ± std. dev. of %d runs, %d loops each)" % (
                _fmt_time(mean), _fmt_time(std), repeat, number))
        if "-o" in opts:
            return types.SimpleNamespace(best=best, all_runs=[r * number for r in runs],
                                         loops=number, repeat=repeat)
        return None

    def _env(self, line):
        line = line.strip()
        if not line:
            return dict(os.environ)
        if "=" in line:
            key, _, value = line.partition("=")
        elif " " in line:
            key, _, value = line.partition(" ")
        else:
            return os.environ.get(line)
        key, value = key.strip(), value.strip()
        os.environ[key] = value
        print("env: %s=%s" % (key, value))
        return None

    def _cd(self, line):
        target = line.strip()
        args = shlex.split(target) if target else []
        path = os.path.expanduser(args[-1] if args else "~")
        os.chdir(path)
        print(os.getcwd())
        return None

    def _capture(self, line, source, cell, lineno, frame):
        args = shlex.split(line)
        name = next((a for a in args if not a.startswith("-")), None)
        out, err = io.StringIO(), io.StringIO()
        old_out, old_err = sys.stdout, sys.stderr
        if "--no-stdout" not in args:
            sys.stdout = out
        if "--no-stderr" not in args:
            sys.stderr = err
        try:
            self._exec_cell(source, cell, lineno, frame)
        finally:
            sys.stdout, sys.stderr = old_out, old_err
        if name:
            self.user_ns[name] = CapturedIO(out.getvalue(), err.getvalue())
        return None

    def _writefile(self, line, source):
        args = shlex.split(line)
        append = any(a in ("-a", "--append") for a in args)
        names = [a for a in args if not a.startswith("-")]
        if not names:
            raise ValueError("%%writefile needs a file name")
        path = os.path.expanduser(names[0])
        exists = os.path.exists(path)
        with open(path, "a" if append else "w", encoding="utf-8") as f:
            f.write(source)
        print("%s %s" % ("Appending to" if append else ("Overwriting" if exists else "Writing"),
                         names[0]))
        return None

    def _script(self, shell, line, source):
        sys.stdout.flush()
        sys.stderr.flush()
        args = shlex.split(line)
        program = "/bin/bash" if shell == "bash" else "/bin/sh"
        proc = subprocess.run([program], input=source.encode("utf-8"))
        if proc.returncode != 0 and "--no-raise-error" not in args:
            raise subprocess.CalledProcessError(proc.returncode, "%%" + shell)
        return None

    # -- the fallback transform's escapes (only integers are spliced into the cell's code)
    def _chard_escape(self, index):
        kind, a, b = self.escapes[index]
        if kind == "system":
            return self.system(a)
        if kind == "getoutput":
            return self.getoutput(a, depth=1)
        if kind == "line_magic":
            return self.run_line_magic(a, b)
        if kind == "help":
            return self.run_line_magic("pinfo", a)
        raise ValueError(kind)

    def _chard_cell_magic(self, index):
        name, args, body = self.escapes[index]
        return self.run_cell_magic(name, args, body)


def _fmt_time(seconds):
    if seconds >= 1:
        return "%.2f s" % seconds
    if seconds >= 1e-3:
        return "%.2f ms" % (seconds * 1e3)
    if seconds >= 1e-6:
        return "%.2f µs" % (seconds * 1e6)
    return "%.0f ns" % (seconds * 1e9)


def _display(*objs, **kwargs):
    """IPython's display() outside a kernel: print the objects."""
    if objs:
        print(*objs)


_TRANSFORMER = []


def _ipython_transformer():
    if not _TRANSFORMER:
        try:
            from IPython.core.inputtransformer2 import TransformerManager
            _TRANSFORMER.append(TransformerManager())
        except Exception:
            _TRANSFORMER.append(None)
    return _TRANSFORMER[0]


def _realign(original, transformed):
    """Pad the transformed source so each statement stays on its original line number."""
    import difflib
    a = original.splitlines()
    b = transformed.splitlines()
    out = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(b[j1:j2])
        elif tag == "delete":
            out.extend([""] * (i2 - i1))
        else:
            out.extend(b[j1:j2])
            out.extend([""] * max(0, (i2 - i1) - (j2 - j1)))
    return "\n".join(out) + "\n"


def transform_cell(source, shell):
    """IPython syntax -> Python, keeping line numbers."""
    try:
        compile(source, "<check>", "exec", dont_inherit=True)
        return source
    except (SyntaxError, ValueError):
        pass
    manager = _ipython_transformer()
    if manager is not None:
        try:
            transformed = manager.transform_cell(source)
        except Exception:
            return source
        if transformed.rstrip("\n") == source.rstrip("\n"):
            return source
        return _realign(source, transformed)
    return _fallback_transform(source, shell)


ASSIGN_ESCAPE = re.compile(r"^([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*([!%])(.*)$")
HELP_END = re.compile(r"^([A-Za-z_][\w.]*)\s*\?{1,2}$")


def _fallback_transform(source, shell):
    """The common IPython forms, line by line, without IPython. Only indices enter the code."""
    lines = source.splitlines()
    first = next((i for i, text in enumerate(lines) if text.strip()), None)
    if first is not None and lines[first].startswith("%%"):
        head = lines[first][2:]
        name, _, args = head.partition(" ")
        body = "\n".join(lines[first + 1:]) + "\n"
        shell.escapes.append((name, args.strip(), body))
        out = [""] * len(lines)
        out[first] = "get_ipython()._chard_cell_magic(%d)" % (len(shell.escapes) - 1)
        return "\n".join(out) + "\n"
    out = []
    state = _ScanState()
    for text in lines:
        if state.at_statement_start():
            replaced = _escape_line(text, shell)
            if replaced is not None:
                out.append(replaced)
                continue
        state.feed(text)
        out.append(text)
    return "\n".join(out) + "\n"


def _escape_line(text, shell):
    indent = text[:len(text) - len(text.lstrip())]
    body = text.strip()
    entry = None
    prefix = ""
    if body.startswith("!"):
        entry = ("system", body[1:].lstrip("!"), None)
    elif body.startswith("%") and not body.startswith("%%"):
        name, _, rest = body[1:].partition(" ")
        entry = ("line_magic", name, rest.strip())
    else:
        m = ASSIGN_ESCAPE.match(body)
        if m:
            prefix = m.group(1) + " = "
            if m.group(2) == "!":
                entry = ("getoutput", m.group(3).strip(), None)
            else:
                name, _, rest = m.group(3).partition(" ")
                entry = ("line_magic", name, rest.strip())
        else:
            m = HELP_END.match(body)
            if m:
                entry = ("help", m.group(1), None)
    if entry is None:
        return None
    shell.escapes.append(entry)
    return "%s%sget_ipython()._chard_escape(%d)" % (indent, prefix, len(shell.escapes) - 1)


class _ScanState(object):
    """Tracks whether a line starts a new statement (not inside a string, bracket or `\\`)."""

    def __init__(self):
        self.depth = 0
        self.quote = None
        self.continued = False

    def at_statement_start(self):
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, text):
        i, n = 0, len(text)
        self.continued = False
        while i < n:
            c = text[i]
            if self.quote is not None:
                if c == "\\":
                    i += 2
                    continue
                if text.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                    continue
                i += 1
                continue
            if c == "#":
                break
            if c in "\"'":
                triple = text[i:i + 3]
                self.quote = triple if triple in ('"""', "'''") else c
                i += len(self.quote)
                continue
            if c in "([{":
                self.depth += 1
            elif c in ")]}":
                self.depth = max(0, self.depth - 1)
            i += 1
        if self.quote is not None and len(self.quote) == 1:
            self.quote = None  # unterminated single-quoted string: a syntax error anyway
        if text.endswith("\\") and self.quote is None:
            self.continued = True


# ---------------------------------------------------------------------------------------------
# Running the code and reporting errors


COMPREHENSIONS = ("<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>")


def _read_names(code):
    """The global names a block reads while it runs, and those only its functions read.
    Module code, class bodies and comprehensions run at once; function bodies run later."""
    import dis
    now, later = set(), set()
    stack = [(code, True)]
    while stack:
        c, immediate = stack.pop()
        target = now if immediate else later
        for ins in dis.get_instructions(c):
            if (ins.opname.startswith(("LOAD_", "DELETE_")) and ("NAME" in ins.opname
                                                                 or "GLOBAL" in ins.opname)
                    and isinstance(ins.argval, str)):
                target.add(ins.argval)
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                is_function = const.co_flags & 0x1 and const.co_name not in COMPREHENSIONS
                runs_now = immediate and not is_function
                stack.append((const, runs_now))
    return now, later - now


class UserCodeError(Exception):
    def __init__(self, exc):
        Exception.__init__(self, str(exc))
        self.exc = exc


def _notebook_frames(tb):
    frames = []
    for fs in traceback.extract_tb(tb):
        if os.path.abspath(fs.filename) == RUNTIME_FILE:
            continue
        frames.append(fs)
    return frames


def _format_exception(exc, sources, seen=None):
    seen = seen if seen is not None else set()
    seen.add(id(exc))
    lines = []
    cause = exc.__cause__
    context = exc.__context__
    if cause is not None and id(cause) not in seen:
        lines.extend(_format_exception(cause, sources, seen))
        lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif (context is not None and not exc.__suppress_context__ and id(context) not in seen):
        lines.extend(_format_exception(context, sources, seen))
        lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    frames = _notebook_frames(exc.__traceback__)
    if frames:
        lines.append("Traceback (most recent call last):\n")
    for fs in frames:
        m = CELL_FILE.match(fs.filename)
        if m:
            cell = int(m.group(1))
            lines.append("  cell %d, line %d, in %s\n" % (cell, fs.lineno, fs.name))
            text = _source_line(sources, cell, fs.lineno)
        else:
            lines.append('  File "%s", line %d, in %s\n' % (fs.filename, fs.lineno, fs.name))
            text = fs.line
        if text:
            lines.append("    %s\n" % text.strip())
    if isinstance(exc, SyntaxError) and exc.filename and CELL_FILE.match(exc.filename):
        cell = int(CELL_FILE.match(exc.filename).group(1))
        lines.append("  cell %d, line %s\n" % (cell, exc.lineno))
        text = _source_line(sources, cell, exc.lineno or 0)
        if text:
            lines.append("    %s\n" % text.strip())
        lines.append("%s: %s\n" % (type(exc).__name__, exc.msg))
    else:
        lines.extend(traceback.format_exception_only(type(exc), exc))
    return lines


def _source_line(sources, cell, line):
    text = sources.get(cell)
    if text is None or line < 1:
        return None
    parts = text.splitlines()
    return parts[line - 1] if line <= len(parts) else None


def _error_position(exc):
    """The innermost notebook frame: (cell, line)."""
    if isinstance(exc, SyntaxError) and exc.filename and CELL_FILE.match(exc.filename):
        return int(CELL_FILE.match(exc.filename).group(1)), exc.lineno
    position = (None, None)
    for fs in _notebook_frames(exc.__traceback__):
        m = CELL_FILE.match(fs.filename)
        if m:
            position = (int(m.group(1)), fs.lineno)
    return position


def report_error(cell, line, type_name, message):
    sys.stdout.flush()
    record = {"cell": cell, "line": line, "type": type_name, "message": message}
    sys.stderr.write("CHARD_ERROR " + json.dumps(record) + "\n")
    sys.stderr.flush()


class Step(object):
    def __init__(self, spec, args):
        self.spec = spec
        self.data_dir = os.path.abspath(args.data_dir if args.data_dir is not None
                                        else spec["dataDir"] or ".")
        workdir = args.workdir if args.workdir is not None else spec["workdir"]
        self.workdir = os.path.abspath(workdir or ".")
        self.metrics_file = os.path.abspath(args.metrics_file) if args.metrics_file else None
        input_names = [i["name"] for i in spec["inputs"]]
        self.input_dirs = {k: os.path.abspath(v) for k, v in _pairs(args.input, "--input").items()}
        self.output_dirs = {k: os.path.abspath(v)
                            for k, v in _pairs(args.output, "--output").items()}
        for name in self.input_dirs:
            if name not in input_names:
                raise UsageError("--input %s: this step has no input of that name" % name)
        for name in self.output_dirs:
            if name not in spec["outputs"]:
                raise UsageError("--output %s: this step has no output of that name" % name)
        self.parameters = resolve_parameters(spec, _pairs(args.param, "--param"))
        if not os.path.isdir(self.workdir):
            raise UsageError("working directory %s does not exist" % self.workdir)
        self.sources = {b["cell"]: b["source"] for b in spec["code"]}

    def run(self):
        spec = self.spec
        module = types.ModuleType("__main__")
        namespace = module.__dict__
        namespace["__builtins__"] = builtins
        sys.modules["__main__"] = module
        shell = Shell(namespace)
        namespace["get_ipython"] = lambda: shell
        namespace["display"] = _display
        namespace.update(self.parameters)
        os.chdir(self.workdir)
        sys.path.insert(0, self.workdir)
        sys.argv = [sys.argv[0]]
        for cell, source in self.sources.items():
            lines = [text + "\n" for text in source.splitlines()]
            linecache.cache["<cell %d>" % cell] = (len(source), None, lines, "<cell %d>" % cell)

        inputs = []
        for i in spec["inputs"]:
            directory = self.input_dirs.get(i["name"]) or os.path.join(
                self.data_dir, i["fromId"], i["name"])
            value = InputValue(i["name"], i["from"], directory)
            value.read_manifest()
            inputs.append(value)
        for value in inputs:
            value.verify()
        pending = self._load(inputs, namespace, strict=False)

        for block in spec["code"]:
            cell = block["cell"]
            code_text = transform_cell(block["source"], shell)
            try:
                code = compile(code_text, "<cell %d>" % cell, "exec", dont_inherit=True)
            except SyntaxError as e:
                raise UserCodeError(e)
            if pending:
                now, _ = _read_names(code)
                self._load([v for v in pending if v.name in now], namespace, strict=True)
                pending = self._load(pending, namespace, strict=False)
            try:
                exec(code, namespace)
            except NameError as e:
                missing = [v for v in pending if "'%s'" % v.name in str(e)]
                if missing:
                    self._load(missing, namespace, strict=True)  # raises the reason it is missing
                raise UserCodeError(e)
            except BaseException as e:
                raise UserCodeError(e)
            if pending:
                pending = self._load(pending, namespace, strict=False)
        self._load(pending, namespace, strict=True)
        sys.stdout.flush()
        sys.stderr.flush()

        for name in spec["outputs"]:
            if name not in namespace:
                raise MarshalError("step %s did not define output %s, which a later step reads" % (
                    json.dumps(spec["step"]), json.dumps(name)))
            directory = self.output_dirs.get(name) or os.path.join(
                self.data_dir, spec["stepId"], name)
            try:
                save_value(name, namespace[name], directory, spec["step"],
                           DIGESTS[spec.get("valueDigest", "crc32")])
            except OSError as e:
                raise MarshalError("cannot save output %s of step %s in %s: %s" % (
                    json.dumps(name), json.dumps(spec["step"]), directory, e.strerror or e))
        self._record_metrics(namespace)

    def _load(self, values, namespace, strict):
        left = []
        for value in values:
            if value.loaded:
                continue
            if value.load(strict):
                namespace[value.name] = value.value
                value.value = None
            else:
                left.append(value)
        return left

    def _record_metrics(self, namespace):
        names = self.spec["metrics"]
        metrics = {}
        for name in names:
            if name not in namespace:
                raise MarshalError("step %s did not define metric %s" % (
                    json.dumps(self.spec["step"]), json.dumps(name)))
            metrics[name] = _metric_value(name, namespace[name])
        text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
        if names:
            step_dir = os.path.join(self.data_dir, self.spec["stepId"])
            write_text_atomic(os.path.join(step_dir, "_metrics.json"), text)
        if self.metrics_file:
            write_text_atomic(self.metrics_file, text)
        for name in names:
            log("metric %s = %s" % (name, json.dumps(metrics[name])))


def _metric_value(name, value):
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) in (
            (), None):
        try:
            value = value.item()
        except Exception:
            pass
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    raise MarshalError("metric %s must be a number, bool or string, got %s" % (
        json.dumps(name), _type_name(value)))


def _configure_streams():
    os.environ["PYTHONUNBUFFERED"] = "1"
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass


def main(argv):
    _configure_streams()
    try:
        args = parse_args(argv)
        spec = load_spec(args)
        step = Step(spec, args)
    except UsageError as e:
        sys.stderr.write("chard: error: %s\n" % e)
        return 2
    try:
        step.run()
    except UserCodeError as e:
        exc = e.exc
        sys.stdout.flush()
        sys.stderr.write("".join(_format_exception(exc, step.sources)))
        cell, line = _error_position(exc)
        message = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
        report_error(cell, line, type(exc).__name__, message)
        return 1
    except MarshalError as e:
        sys.stderr.write("chard: error: %s\n" % e)
        report_error(None, None, "MarshalError", str(e))
        return 1
    except KeyboardInterrupt:
        report_error(None, None, "KeyboardInterrupt", "interrupted")
        return 1
    except OSError as e:
        where = " (%s)" % e.filename if getattr(e, "filename", None) else ""
        message = "%s%s" % (e.strerror or e, where)
        sys.stderr.write("chard: error: %s\n" % message)
        report_error(None, None, type(e).__name__, message)
        return 1
    except Exception as e:
        traceback.print_exc()
        report_error(None, None, type(e).__name__, "internal error in the Chard runtime: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
