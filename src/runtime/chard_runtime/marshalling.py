"""Values between steps: choosing a serializer, saving a value beside its manifest, verifying
and loading an input."""

import io
import json
import math
import os
import pickle
import sys
import time
import types

from .byvalue import PickleModule, pickle_dump
from .errors import MarshalError, _one_line, log
from .files import (CHUNK, DIGESTS, SCHEME, SHA256, SHA256_HEX, _AtomicFile, _Corrupt,
                    _checksum_chunks, _check, _digest_of_chunks, _integrity, _read_whole,
                    _sha256_of, write_text_atomic)

MANIFEST = "manifest.json"
VALUE_STEM = "value"
ADVICE = "recreate it in the consuming step, or mark the cell that creates it `skip`"


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
        # their storage. It pickles with byvalue's Pickler, so the classes and functions the
        # notebook defines travel by value; when it fails, dill and cloudpickle are tried.
        return ["torch", "dill", "cloudpickle"]
    if _is_instance(value, "sklearn", "base.BaseEstimator") and not _defined_in_notebook(
            type(value)):
        return ["joblib"] + PICKLERS
    # pickle saves the classes and functions the notebook defines by value (byvalue.py).
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
        sys.modules["torch"].save(value, out, pickle_module=PickleModule)
    elif backend == "module":
        out.write(value.__name__.encode("utf-8"))
    elif backend == "pickle":
        pickle_dump(value, out)
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
