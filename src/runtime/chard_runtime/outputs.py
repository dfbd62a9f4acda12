"""A step's rich outputs, as a Jupyter kernel sends them: what display() shows, the value of a
cell's last expression, and matplotlib figures (drawn by a backend that acts as the inline one),
each a MIME bundle, kept in DATA_DIR/STEP_ID/_outputs.json."""

import base64
import importlib.util
import io
import json
import sys
import time

from .errors import log
from .files import write_text_atomic


# Rich outputs
#
# _outputs.json is {"version": 1, "outputs": [...], "truncated": null | {...}}; each output is an
# nbformat output ("display_data", or "execute_result" for a cell's last expression) with the
# 0-based notebook cell that showed it: {"output_type", "cell", "data", "metadata"}. Binary data
# (PNG, JPEG, PDF) is base64 text, JSON data a JSON value, as in a notebook file. The file is
# rewritten whole and atomically: after each cell that showed something, at most once a second
# while a cell goes on showing things, and when the step ends (also when it fails). A step keeps
# at most OUTPUTS_MAX_BYTES of outputs and OUTPUTS_MAX_COUNT outputs; the first output over
# either limit and all after it are left out, and "truncated" says how many and how large.

OUTPUTS_FILE = "_outputs.json"
# A cluster step's outputs also travel in its log (--outputs-to-log): the same document on one
# line after LOG_PREFIX, when the step ends, at most LOG_MAX_BYTES (the outputs over it are left
# out, and counted in "truncated", as over the file's limits).
LOG_PREFIX = "CHARD_OUTPUTS "
LOG_MAX_BYTES = 4 * 1024 * 1024
OUTPUTS_MAX_BYTES = 16 * 1024 * 1024
OUTPUTS_MAX_COUNT = 500
OUTPUTS_WRITE_EVERY = 1.0
# The matplotlib backend of a step (`module://` + this module, which the import hooks provide).
BACKEND_MODULE = "chard_runtime_inline"
BACKEND = "module://" + BACKEND_MODULE
# The display protocol's methods after _repr_mimebundle_, in IPython's DisplayFormatter's order.
REPR_METHODS = (
    ("text/plain", None),
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("application/pdf", "_repr_pdf_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"),
    ("application/json", "_repr_json_"),
    ("application/javascript", "_repr_javascript_"),
)
BINARY_TYPES = ("image/png", "image/jpeg", "application/pdf")
# The step's RichOutputs while it runs (display() outside a step prints, as IPython's does).
_PUBLISHER = [None]


class RichOutputs(object):
    """The outputs a step showed, in order, written to `path` as they come."""

    def __init__(self, path, max_bytes=OUTPUTS_MAX_BYTES, max_count=OUTPUTS_MAX_COUNT):
        self.path = path
        self.max_bytes = max_bytes
        self.max_count = max_count
        self.outputs = []
        self.cell = None
        self.size = 0
        self.left_out = 0
        self.left_out_bytes = 0
        self.by_id = {}
        self.dirty = False
        self.written_at = 0.0
        self.unwritable = False

    def add(self, data, metadata=None, result=False, display_id=None):
        output = {"output_type": "execute_result" if result else "display_data",
                  "cell": self.cell, "data": data, "metadata": metadata or {}}
        if result:
            output["execution_count"] = None
        size = _json_size(output)
        if (self.left_out or len(self.outputs) >= self.max_count
                or self.size + size > self.max_bytes):
            if not self.left_out:
                log("this step showed more than %d outputs or %s of them: this output and "
                    "those after it are not kept" % (self.max_count, _size_text(self.max_bytes)))
            self.left_out += 1
            self.left_out_bytes += size
            self.dirty = True
            return
        self.outputs.append(output)
        self.size += size
        if display_id is not None:
            self.by_id.setdefault(display_id, []).append(output)
        self.dirty = True
        self.write(soon=True)

    def update(self, display_id, data, metadata=None):
        """update_display(): every output shown with `display_id` now shows this."""
        for output in self.by_id.get(display_id, []):
            before = _json_size(output)
            after = _json_size(dict(output, data=data, metadata=metadata or {}))
            if self.size + after - before > self.max_bytes:
                continue  # over the limit: the output keeps what it showed before
            output["data"], output["metadata"] = data, metadata or {}
            self.size += after - before
            self.dirty = True
        self.write(soon=True)

    def clear(self):
        """clear_output(): the outputs the running cell showed so far go."""
        kept = [o for o in self.outputs if o["cell"] != self.cell or self.cell is None]
        if len(kept) != len(self.outputs):
            self.outputs = kept
            self.size = sum(_json_size(o) for o in kept)
            self.dirty = True

    def end_cell(self):
        """After a cell: its figures still open are shown (and closed), then written."""
        self.flush_figures()
        self.write()

    def flush_figures(self):
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None and _backend_is_ours():
            show_figures()

    def document(self, max_bytes=None):
        """The outputs document; with `max_bytes`, the first outputs that fit in it (the others
        counted as left out)."""
        outputs, left_out, left_out_bytes = self.outputs, self.left_out, self.left_out_bytes
        if max_bytes is not None and self.size > max_bytes:
            kept, size = [], 0
            for output in outputs:
                size += _json_size(output)
                if size > max_bytes:
                    break
                kept.append(output)
            dropped = outputs[len(kept):]
            outputs = kept
            left_out += len(dropped)
            left_out_bytes += sum(_json_size(o) for o in dropped)
        truncated = None
        if left_out:
            truncated = {"outputs": left_out, "bytes": left_out_bytes,
                         "maxBytes": min(self.max_bytes, max_bytes or self.max_bytes),
                         "maxOutputs": self.max_count}
        return {"version": 1, "outputs": outputs, "truncated": truncated}

    def print_to_log(self, stream=None, max_bytes=LOG_MAX_BYTES):
        """The outputs as one line of the step's log (nothing when the step showed nothing)."""
        if not self.outputs and not self.left_out:
            return
        stream = stream or sys.__stdout__
        line = LOG_PREFIX + json.dumps(self.document(max_bytes - 1024), separators=(",", ":"))
        stream.write(line + "\n")
        stream.flush()

    def write(self, soon=False):
        """Write the outputs if they changed; `soon`: unless written less than a second ago. A
        file that cannot be written is said once in the log; the step goes on without it."""
        if self.unwritable or not self.dirty or (
                soon and time.time() - self.written_at < OUTPUTS_WRITE_EVERY):
            return
        try:
            write_text_atomic(self.path, json.dumps(self.document(), separators=(",", ":")))
        except OSError as e:
            self.unwritable = True
            log("cannot save what the step shows in %s: %s; it is not kept" % (
                self.path, e.strerror or e))
            return
        self.dirty = False
        self.written_at = time.time()


def _json_size(value):
    return len(json.dumps(value, separators=(",", ":")))


def _size_text(size):
    return "%.0f MB" % (size / 1e6) if size >= 1e6 else "%.0f kB" % (size / 1e3)


# The display protocol (IPython's DisplayFormatter, without IPython)


def _real_method(obj, name):
    """obj's method `name`, unless obj is a class or claims every attribute (as IPython does)."""
    if isinstance(obj, type):
        return None
    try:
        if getattr(obj, "_ipython_canary_method_should_not_exist_", None) is not None:
            return None
        method = getattr(obj, name, None)
    except Exception:
        return None
    return method if callable(method) else None


def _mime_value(mime, value):
    """A repr method's result as a notebook stores it: base64 for binary, JSON as it is."""
    if mime in BINARY_TYPES:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return base64.b64encode(bytes(value)).decode("ascii")
        return value if isinstance(value, str) else None
    if mime == "application/json" or mime.endswith("+json"):
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            return None
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _plain_text(obj):
    try:
        return repr(obj)
    except Exception as e:
        return "<%s object (repr failed: %s)>" % (type(obj).__name__, type(e).__name__)


def _is_figure(obj):
    return any(c.__name__ == "Figure" and c.__module__ == "matplotlib.figure"
               for c in type(obj).__mro__)


def _call_repr(obj, name, method, *args, **kwargs):
    try:
        return method(*args, **kwargs)
    except Exception as e:
        log("%s.%s() failed: %s: %s" % (type(obj).__name__, name, type(e).__name__, e))
        return None


def format_display(obj, include=None, exclude=None):
    """(data, metadata): obj's MIME bundle, as IPython's DisplayFormatter makes it."""
    data, metadata = {}, {}
    method = _real_method(obj, "_repr_mimebundle_")
    if method is not None:
        bundle = _call_repr(obj, "_repr_mimebundle_", method, include=include, exclude=exclude)
        if isinstance(bundle, tuple) and len(bundle) == 2:
            bundle, extra = bundle
            if isinstance(extra, dict):
                metadata.update(extra)
        if isinstance(bundle, dict):
            for mime, value in bundle.items():
                value = _mime_value(mime, value)
                if value is not None:
                    data[mime] = value
    for mime, name in REPR_METHODS:
        if mime in data:
            continue
        if name is None:
            data[mime] = _plain_text(obj)
            continue
        method = _real_method(obj, name)
        value = _call_repr(obj, name, method) if method is not None else None
        if isinstance(value, tuple) and len(value) == 2:
            value, extra = value
            if isinstance(extra, dict):
                metadata[mime] = extra
        value = _mime_value(mime, value) if value is not None else None
        if value is not None:
            data[mime] = value
    if "image/png" not in data and _is_figure(obj):
        png = figure_png(obj)
        if png is not None:
            data["image/png"] = base64.b64encode(png).decode("ascii")
    if include:
        data = {k: v for k, v in data.items() if k in include}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
    return data, {k: v for k, v in metadata.items() if k in data or "/" not in k}


# display() and its companions, in place of IPython's


class DisplayHandle(object):
    """What display(..., display_id=...) returns: shows or updates that display."""

    def __init__(self, display_id=None):
        self.display_id = display_id if display_id is not None else _new_display_id()

    def __repr__(self):
        return "<DisplayHandle display_id=%s>" % self.display_id

    def display(self, obj, **kwargs):
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs):
        update_display(obj, display_id=self.display_id, **kwargs)


def display(*objs, include=None, exclude=None, metadata=None, transient=None, display_id=None,
            raw=False, clear=False, **kwargs):
    """IPython's display(): each object's MIME bundle becomes one of the step's outputs."""
    publisher = _PUBLISHER[0]
    if publisher is None:
        if objs:
            print(*objs)
        return None
    if transient and transient.get("display_id") is not None and display_id is None:
        display_id = transient["display_id"]
    if display_id is True:
        display_id = _new_display_id()
    if clear:
        publisher.clear()
    for obj in objs:
        if raw:
            data = _raw_bundle(obj, include, exclude)
            if data:
                publisher.add(data, metadata, display_id=display_id)
            continue
        method = _real_method(obj, "_ipython_display_")
        if method is not None and _call_repr(obj, "_ipython_display_", method) is not False:
            continue
        data, md = format_display(obj, include, exclude)
        if metadata:
            md.update(metadata)
        if data:
            publisher.add(data, md, display_id=display_id)
    return DisplayHandle(display_id) if display_id is not None else None


def _new_display_id():
    import uuid
    return uuid.uuid4().hex


def update_display(obj, display_id, **kwargs):
    """IPython's update_display(): the outputs shown with `display_id` now show obj."""
    publisher = _PUBLISHER[0]
    if publisher is None:
        return
    if kwargs.get("raw"):
        publisher.update(display_id, _raw_bundle(obj), kwargs.get("metadata"))
        return
    data, md = format_display(obj, kwargs.get("include"), kwargs.get("exclude"))
    publisher.update(display_id, data, md)


def _raw_bundle(bundle, include=None, exclude=None):
    """A MIME bundle given as it is (raw=True), as a notebook stores it."""
    if not isinstance(bundle, dict):
        return {}
    data = {}
    for mime, value in bundle.items():
        if isinstance(mime, str) and (not include or mime in include) and mime not in (
                exclude or ()):
            value = _mime_value(mime, value)
            if value is not None:
                data[mime] = value
    return data


def clear_output(wait=False):
    """IPython's clear_output(): what the running cell showed so far goes."""
    if _PUBLISHER[0] is not None:
        _PUBLISHER[0].clear()


def publish_display_data(data, metadata=None, source=None, transient=None, **kwargs):
    """IPython's publish_display_data(): a MIME bundle as it is."""
    display(data, raw=True, metadata=metadata, transient=transient)


def show_result(value, source):
    """The value of a cell's last expression, shown as Jupyter does (not None, no trailing `;`)."""
    publisher = _PUBLISHER[0]
    if publisher is None or value is None or _ends_with_semicolon(source):
        return
    method = _real_method(value, "_ipython_display_")
    if method is not None and _call_repr(value, "_ipython_display_", method) is not False:
        return
    data, metadata = format_display(value)
    if data:
        publisher.add(data, metadata, result=True)


def _ends_with_semicolon(source):
    """IPython's rule: a cell whose last token (comments aside) is `;` shows no result."""
    import tokenize
    last = None
    skip = (tokenize.COMMENT, tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER,
            tokenize.INDENT, tokenize.DEDENT)
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type not in skip:
                last = token.string
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return False
    return last == ";"


# matplotlib: a backend that draws like the inline one


def figure_png(fig):
    """The figure as IPython's inline backend shows it (PNG, tight box); None if it is empty."""
    if not fig.axes and not getattr(fig, "lines", None):
        return None
    out = io.BytesIO()
    fig.canvas.print_figure(out, format="png", bbox_inches="tight", dpi=fig.dpi,
                            facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
    return out.getvalue()


def show_figures(*args, **kwargs):
    """plt.show() in a step: each open figure becomes an output, then they are closed."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    publisher = _PUBLISHER[0]
    if pyplot is None:
        return
    from matplotlib._pylab_helpers import Gcf
    try:
        for manager in Gcf.get_all_fig_managers():
            figure = manager.canvas.figure
            try:
                png = figure_png(figure)
            except Exception as e:  # as in Jupyter, a figure that cannot be drawn fails no cell
                log("cannot draw %s: %s: %s" % (_plain_text(figure), type(e).__name__, e))
                continue
            if png is not None and publisher is not None:
                publisher.add({"image/png": base64.b64encode(png).decode("ascii"),
                               "text/plain": _plain_text(figure)})
    finally:
        pyplot.close("all")


def _backend_is_ours():
    matplotlib = sys.modules.get("matplotlib")
    try:
        return matplotlib is not None and matplotlib.get_backend() == BACKEND
    except Exception:
        return False


def _use_backend(matplotlib):
    """After `import matplotlib` (or at once if it was imported): figures go to the step."""
    matplotlib.use(BACKEND)


class _BackendLoader(object):
    """Makes the module `chard_runtime_inline`, a matplotlib backend (Agg drawing, our show)."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from matplotlib.backend_bases import FigureManagerBase
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        module.FigureCanvas = FigureCanvasAgg
        module.FigureManager = FigureManagerBase
        module.show = show_figures


# Import hooks: modules imported during the step are fixed up as they are imported


def _patch_ipython(module):
    """IPython's display functions, replaced by the step's in one of IPython's modules."""
    for name, function in (("display", display), ("update_display", update_display),
                           ("clear_output", clear_output),
                           ("publish_display_data", publish_display_data)):
        if hasattr(module, name):
            setattr(module, name, function)


AFTER_IMPORT = {
    "matplotlib": _use_backend,
    "IPython.core.display_functions": _patch_ipython,
    "IPython.core.display": _patch_ipython,
    "IPython.display": _patch_ipython,
}


class _AfterImport(object):
    """A loader that runs `then(module)` once the module it wraps has run."""

    def __init__(self, loader, then):
        self.loader = loader
        self.then = then

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        module.__loader__ = self.loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.loader
        _after_import(self.then, module)


def _after_import(then, module):
    try:
        then(module)
    except Exception as e:
        log("cannot set up %s for the step's outputs: %s: %s" % (
            module.__name__, type(e).__name__, e))


class _ImportHooks(object):
    """A meta path finder: provides the matplotlib backend module, and wraps the loaders of the
    modules in AFTER_IMPORT so that their hook runs once they are imported."""

    def __init__(self):
        self.finding = set()

    def find_spec(self, fullname, path=None, target=None):
        if fullname == BACKEND_MODULE:
            return importlib.util.spec_from_loader(fullname, _BackendLoader())
        then = AFTER_IMPORT.get(fullname)
        if then is None or fullname in self.finding:
            return None
        self.finding.add(fullname)
        try:
            spec = None
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self.finding.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _AfterImport(spec.loader, then)
        return spec


def start_outputs(path):
    """The step's outputs from now on go to `path`: display(), IPython's display functions and
    matplotlib (imported already, or later) publish there. Returns the RichOutputs."""
    publisher = RichOutputs(path)
    _PUBLISHER[0] = publisher
    if not any(isinstance(f, _ImportHooks) for f in sys.meta_path):
        sys.meta_path.insert(0, _ImportHooks())
    for name, then in AFTER_IMPORT.items():
        if name in sys.modules:
            _after_import(then, sys.modules[name])
    return publisher


def finish_outputs(publisher, to_log=False):
    """The step is over (or failed): its open figures are shown and everything is written (and,
    `to_log`, printed as one line of the log)."""
    try:
        publisher.flush_figures()
    except Exception as e:
        log("cannot show the step's last figures: %s: %s" % (type(e).__name__, e))
    publisher.write()
    if to_log:
        publisher.print_to_log()
    _PUBLISHER[0] = None

