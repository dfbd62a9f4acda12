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
What the cells show (display(), a cell's last expression, matplotlib figures) is kept as MIME
bundles, as a Jupyter kernel sends them, in DATA_DIR/STEP_ID/_outputs.json (see outputs.py).

An input whose pickle refers to a class the notebook defines (``__main__.Foo``) is loaded as soon
as the code blocks define it (the functions cells run first), and at the latest before the first
block that reads it.

Exit codes: 0 success, 1 failure in the notebook code or while marshalling, 2 bad spec or usage.
On failure the last line on stderr is ``CHARD_ERROR {json}`` with cell, line, type and message.
Only the standard library is imported up front; numpy, pandas, joblib, torch, dill, cloudpickle,
pyarrow and IPython are imported only when a value or a cell needs them. Python >= 3.8.
--param values for parameters this step does not read are ignored (a runner may pass every
pipeline parameter to every step).

Source layout: this package's modules, each importable and tested on its own (tests/python/);
`npm run build` joins them into the one file that travels (scripts/embed-runtime.mjs):
  errors       error types, log lines, notebook tracebacks and the CHARD_ERROR line
  files        atomic value files and their integrity digests
  spec         the command line, the step spec and pipeline parameters
  byvalue      pickling the classes and functions the notebook defines by value
  marshalling  serializers, manifests, saving outputs and loading inputs
  shell        IPython syntax and magics without a kernel
  outputs      rich outputs: display(), a cell's last value, matplotlib figures (_outputs.json)
  metrics      pipeline metrics
  step         running one step: main()
"""

from .byvalue import (_rebuild_class, _rebuild_function, _rebuild_mappingproxy,
                      _rebuild_typevar, _set_class_state, _set_function_state)
from .step import main

# main() runs a step; the rest rebuild, by name, what byvalue pickled.
__all__ = ["main", "_rebuild_class", "_rebuild_function", "_rebuild_mappingproxy",
           "_rebuild_typevar", "_set_class_state", "_set_function_state"]
