"""The entry point: runs one step (parameters, inputs, code, outputs, metrics)."""

import ast
import builtins
import json
import linecache
import os
import sys
import traceback
import types

from .byvalue import consumer_cells
from .errors import (MarshalError, UsageError, UserCodeError, _error_position, _format_exception,
                     cell_file, report_error)
from .files import DIGESTS
from .marshalling import InputValue, save_value
from .metrics import record_metrics
from .outputs import OUTPUTS_FILE, display, finish_outputs, show_result, start_outputs
from .shell import Shell, transform_cell
from .spec import _pairs, load_spec, parse_args, resolve_parameters


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


def compile_cell(code_text, cell):
    """The cell's code, and apart from it its last statement when that is an expression (whose
    value Jupyter shows), else None. Raises UserCodeError on a syntax error."""
    filename = cell_file(cell)
    try:
        tree = ast.parse(code_text, filename, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = compile(ast.Expression(tree.body.pop().value), filename, "eval",
                           dont_inherit=True)
        return compile(tree, filename, "exec", dont_inherit=True), last
    except SyntaxError as e:
        raise UserCodeError(e)


class Step(object):
    def __init__(self, spec, args):
        self.spec = spec
        self.outputs_to_log = bool(getattr(args, "outputs_to_log", False))
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
        publisher = start_outputs(os.path.join(self.data_dir, self.spec["stepId"], OUTPUTS_FILE))
        try:
            self._run(publisher)
        finally:
            finish_outputs(publisher, to_log=self.outputs_to_log)

    def _run(self, publisher):
        spec = self.spec
        module = types.ModuleType("__main__")
        namespace = module.__dict__
        namespace["__builtins__"] = builtins
        sys.modules["__main__"] = module
        shell = Shell(namespace)
        namespace["get_ipython"] = lambda: shell
        namespace["display"] = display
        namespace.update(self.parameters)
        os.chdir(self.workdir)
        sys.path.insert(0, self.workdir)
        sys.argv = [sys.argv[0]]
        for cell, source in self.sources.items():
            lines = [text + "\n" for text in source.splitlines()]
            linecache.cache[cell_file(cell)] = (len(source), None, lines, cell_file(cell))

        consumer_cells(self.sources)
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
            publisher.cell = cell
            code_text = transform_cell(block["source"], shell)
            code, last = compile_cell(code_text, cell)
            if pending:
                now, _ = _read_names(code)
                if last is not None:
                    now |= _read_names(last)[0]
                self._load([v for v in pending if v.name in now], namespace, strict=True)
                pending = self._load(pending, namespace, strict=False)
            try:
                exec(code, namespace)
                if last is not None:
                    show_result(eval(last, namespace), block["source"])
            except NameError as e:
                missing = [v for v in pending if "'%s'" % v.name in str(e)]
                if missing:
                    self._load(missing, namespace, strict=True)  # raises the reason it is missing
                raise UserCodeError(e)
            except BaseException as e:
                raise UserCodeError(e)
            publisher.end_cell()
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
        record_metrics(self.spec, self.data_dir, self.metrics_file, namespace)

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
