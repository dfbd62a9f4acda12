"""Chard step bootstrap: decodes the runtime and step spec the manifest carries, runs the step.

Run as `python3 bootstrap.py ARGS` (KFP steps) or `python3 -c BOOTSTRAP ARGS` (Argo steps, the KFP
runtime task); the manifests carry this file's text (see src/core/compile/payload.ts). Standard
library only; constant (it never contains user data). The arguments it consumes (all others go to
the runtime):

- the runtime: `--runtime-b64 DATA` (may repeat; parts are concatenated), `--runtime-b64-file
  FILE`, or `--runtime-file FILE` (the source itself); `--runtime-sha256 HEX` refuses any other
  runtime;
- `--save DIR` with `--bootstrap-b64 DATA` (may repeat): only write the bootstrap (DATA decoded)
  and the runtime to `DIR/bootstrap.py` and `DIR/chard_runtime.py` (atomically) and exit; the
  KFP target's first task does this, and every step runs `DIR/bootstrap.py` from that task's
  output artifact;
- the step spec: `--spec-b64 DATA` (may repeat), `--spec-b64-file FILE`, `--spec-zb64 DATA` (may
  repeat: base64 of the zlib-compressed spec), or a bundle of several steps' specs (see
  `specBundle` in payload.ts), `--spec-bundle-zb64 DATA` (may repeat) or `--spec-bundle-file
  FILE`, with `--spec-sha256 HEX` naming the step's;
  `--spec-sha256` refuses any spec whose sha256 differs;
- `--param NAME=chard:b64:DATA`: decoded to `--param NAME=VALUE`;
- KFP steps (executors shared by all steps with the same image, resources and volumes):
  `--kfp-spec NAME` takes the step spec from the input parameter NAME of KFP's executor input
  (`--kfp-executor-input`, base64 of the zlib-compressed spec) and `--kfp-spec-sha256 NAME` its
  sha256 from the input parameter NAME (a step whose spec is too large for one argument has it in
  `--spec-zb64` instead); with `--kfp-io` (no value) the runtime gets `--param`, `--input` and
  `--output` for the step's parameters, inputs and outputs (the spec names them) with the values
  and paths the executor input holds, local paths derived from artifact URIs as KFP's launcher
  does (an input's `customPath` if set, else `gs://` -> `/gcs/`, `minio://` -> `/minio/`, `s3://`
  -> `/s3/`, under `$ARTIFACT_LOCAL_PATH` if set; kfp.local's URIs are local paths); `--kfp-metrics-artifact NAME` is
  `--kfp-metrics NAME=PATH` with PATH the path of output artifact NAME;
- KFP outputs: with `--kfp-executor-input JSON` (KFP's executor input), once the step (or the
  `--save`) succeeded, it writes the KFP executor output listing every output artifact of the task,
  as KFP's own Python executor does (kfp.local takes a task's output artifacts from that file
  only); `--kfp-metrics NAME=PATH` has the runtime write the metrics JSON to PATH
  (`--metrics-file`), and the executor output gives the `system.Metrics` output artifact NAME
  those values as metadata, which the KFP UI shows as scalar metrics.

It writes the runtime to a private temporary directory and runs it as `__main__` with
`--spec-json SPEC` followed by the remaining arguments, exiting with the runtime's status.
"""
import base64
import hashlib
import json
import os
import runpy
import sys
import tempfile
import zlib

# The prefix of an encoded parameter value: PARAM_B64_PREFIX in src/core/compile/payload.ts
# (tests/core/compile/payload.spec.ts checks that both agree).
PREFIX = "chard:b64:"
OPTIONS = (
    "--runtime-b64", "--runtime-b64-file", "--runtime-file", "--runtime-sha256",
    "--spec-b64", "--spec-b64-file", "--spec-zb64", "--spec-bundle-zb64", "--spec-bundle-file",
    "--spec-sha256",
    "--save", "--bootstrap-b64", "--kfp-metrics", "--kfp-executor-input",
    "--kfp-spec", "--kfp-spec-sha256", "--kfp-metrics-artifact",
)
# Options without a value.
FLAGS = ("--kfp-io",)
# Where KFP's launcher puts an artifact store's URIs in a container (its LocalPathForURI), under
# $ARTIFACT_LOCAL_PATH when that is set (the launcher's local debugging).
KFP_MOUNTS = (("gs://", "/gcs/"), ("minio://", "/minio/"), ("s3://", "/s3/"))


def fail(message):
    sys.stderr.write("chard bootstrap: " + message + "\n")
    sys.exit(2)


def decode(text, what):
    try:
        return base64.b64decode(text.encode("ascii"), validate=True).decode("utf-8")
    except (ValueError, UnicodeError) as error:
        fail("cannot decode the " + what + " (" + str(error) + ")")


def inflate(text, what):
    try:
        data = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
        return data.decode("utf-8")
    except (ValueError, UnicodeError, zlib.error) as error:
        fail("cannot decode the " + what + " (" + str(error) + ")")


def read(path, what):
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except (OSError, UnicodeError) as error:
        fail("cannot read the " + what + " from " + path + " (" + str(error) + ")")


def write_atomic(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".chard-")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.replace(temp, path)


def parse(args):
    options = dict((name, []) for name in OPTIONS + FLAGS)
    rest = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in FLAGS:
            options[arg].append(True)
            i += 1
            continue
        if arg not in OPTIONS and arg != "--param":
            rest.append(arg)
            i += 1
            continue
        if i + 1 >= len(args):
            fail(arg + " needs a value")
        value = args[i + 1]
        if arg == "--param":
            name, sep, text = value.partition("=")
            if sep and text.startswith(PREFIX):
                value = name + sep + decode(text[len(PREFIX):], "value of parameter " + name)
            rest += [arg, value]
        else:
            options[arg].append(value)
        i += 2
    return options, rest


def runtime_source(options):
    parts = [part.strip() for part in options["--runtime-b64"]]
    parts += [read(path, "runtime").strip() for path in options["--runtime-b64-file"]]
    if parts:
        source = decode("".join(parts), "runtime")
    elif options["--runtime-file"]:
        source = read(options["--runtime-file"][-1], "runtime")
    else:
        fail("no runtime given (--runtime-b64, --runtime-b64-file or --runtime-file)")
    actual = hashlib.sha256(source.encode("utf-8")).hexdigest()
    for expected in options["--runtime-sha256"]:
        if actual != expected:
            fail("the runtime has sha256 " + actual + ", not " + expected + " as compiled; "
                 "recompile and resubmit the pipeline")
    return source


def kfp_executor_input(options):
    texts = options["--kfp-executor-input"]
    if not texts:
        fail("--kfp-spec and --kfp-io need --kfp-executor-input")
    try:
        executor_input = json.loads(texts[-1])
        if not isinstance(executor_input, dict):
            raise ValueError("not an object")
        return executor_input
    except ValueError as error:
        fail("cannot read KFP's executor input (" + str(error) + ")")


def kfp_parameter(executor_input, name):
    values = executor_input.get("inputs", dict()).get("parameterValues", dict())
    if name not in values:
        fail("KFP's executor input has no input parameter " + name)
    return values[name]


def kfp_path(executor_input, kind, name):
    """The local path of input or output artifact NAME (`kind` "inputs" or "outputs")."""
    try:
        artifact = executor_input[kind]["artifacts"][name]["artifacts"][0]
        uri = artifact["uri"]
    except (KeyError, IndexError, TypeError):
        fail("KFP's executor input has no " + kind[:-1] + " artifact " + name)
    if kind == "inputs" and artifact.get("customPath"):
        return artifact["customPath"]
    for remote, local in KFP_MOUNTS:
        if uri.startswith(remote):
            return os.environ.get("ARTIFACT_LOCAL_PATH", "") + local + uri[len(remote):]
    if uri.startswith("oci://"):
        fail("artifact " + name + " is an OCI model (" + uri + "), which Chard steps do not read")
    # kfp.local: a local path.
    return uri


def parameter_text(value):
    """An input parameter value as the runtime's --param takes it (as KFP's placeholders print it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return str(value)


def kfp_step(options):
    """The step spec (from KFP's executor input with --kfp-spec) and the runtime arguments the
    executor input implies for it (--kfp-io)."""
    if options["--kfp-spec"]:
        executor_input = kfp_executor_input(options)
        packed = kfp_parameter(executor_input, options["--kfp-spec"][-1])
        if not isinstance(packed, str):
            fail("the step spec parameter is not a text")
        for name in options["--kfp-spec-sha256"]:
            options["--spec-sha256"].append(str(kfp_parameter(executor_input, name)))
        if not options["--spec-sha256"]:
            fail("--kfp-spec needs --kfp-spec-sha256")
        options["--spec-zb64"] = [packed]
    spec = step_spec(options)
    if not options["--kfp-io"]:
        return spec, []
    executor_input = kfp_executor_input(options)
    try:
        parsed = json.loads(spec)
        params, inputs, outputs = parsed["parameters"], parsed["inputs"], parsed["outputs"]
        input_names = [entry["name"] for entry in inputs]
    except (ValueError, KeyError, TypeError) as error:
        fail("cannot read the step spec (" + str(error) + ")")
    args = []
    for name in params:
        text = parameter_text(kfp_parameter(executor_input, name))
        if text.startswith(PREFIX):
            text = decode(text[len(PREFIX):], "value of parameter " + name)
        args += ["--param", name + "=" + text]
    for name in input_names:
        args += ["--input", name + "=" + kfp_path(executor_input, "inputs", name)]
    for name in outputs:
        args += ["--output", name + "=" + kfp_path(executor_input, "outputs", name)]
    for name in options["--kfp-metrics-artifact"]:
        options["--kfp-metrics"].append(name + "=" + kfp_path(executor_input, "outputs", name))
    return spec, args


def step_spec(options):
    parts = [part.strip() for part in options["--spec-b64"]]
    parts += [read(path, "step spec").strip() for path in options["--spec-b64-file"]]
    packed = [part.strip() for part in options["--spec-zb64"]]
    wanted = options["--spec-sha256"]
    if parts:
        spec = decode("".join(parts), "step spec")
    elif packed:
        spec = inflate("".join(packed), "step spec")
    elif options["--spec-bundle-zb64"] or options["--spec-bundle-file"]:
        if not wanted:
            fail("a bundle of step specs needs --spec-sha256")
        if options["--spec-bundle-zb64"]:
            packed = "".join(part.strip() for part in options["--spec-bundle-zb64"])
        else:
            packed = read(options["--spec-bundle-file"][-1], "step specs").strip()
        text = inflate(packed, "step specs")
        try:
            bundle = json.loads(text)
        except ValueError as error:
            fail("cannot read the step specs (" + str(error) + ")")
        spec = bundle.get(wanted[-1]) if isinstance(bundle, dict) else None
        if not isinstance(spec, str):
            fail("the pipeline carries no step spec with sha256 " + wanted[-1] + "; "
                 "recompile and resubmit the pipeline")
    else:
        fail("usage: bootstrap RUNTIME --spec-b64[-file]|--spec-zb64|--spec-bundle-zb64|"
             "--spec-bundle-file SPEC [runtime arguments]")
    actual = hashlib.sha256(spec.encode("utf-8")).hexdigest()
    for expected in wanted:
        if actual != expected:
            fail("the step spec has sha256 " + actual + ", not " + expected + " as compiled; "
                 "recompile and resubmit the pipeline")
    return spec


def read_metrics(metrics):
    """The metadata of the metrics artifact: the step's metrics (None when unreadable)."""
    name, path = metrics
    try:
        with open(path, encoding="utf-8") as handle:
            metadata = dict(json.load(handle))
    except (ValueError, TypeError, OSError) as error:
        sys.stderr.write("chard bootstrap: warning: the metrics are not shown in Kubeflow "
                         "Pipelines (" + type(error).__name__ + ": " + str(error) + ")\n")
        return None
    metadata["display_name"] = name
    return metadata


def publish_outputs(executor_input, metrics=None):
    """Write KFP's executor output: every output artifact the executor input declares (its name
    and uri, as KFP's Python executor writes them), the metrics artifact with the step's metrics
    (`metrics` is (NAME, PATH) or None) as its metadata."""
    try:
        outputs = json.loads(executor_input)["outputs"]
        output_file = outputs["outputFile"]
        declared = dict(outputs.get("artifacts", dict()))
        entries = dict()
        for key in sorted(declared):
            artifact = declared[key].get("artifacts", [dict()])[0]
            entries[key] = dict((field, artifact[field]) for field in ("name", "uri")
                                if field in artifact)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        what = "metrics are not shown in" if metrics is not None else "outputs are not listed for"
        sys.stderr.write("chard bootstrap: warning: the " + what + " Kubeflow Pipelines ("
                         + type(error).__name__ + ": " + str(error) + ")\n")
        return
    for key, entry in entries.items():
        entry["metadata"] = dict()
        if metrics is not None and key == metrics[0]:
            entry["metadata"] = read_metrics(metrics) or dict()
    output = dict(artifacts=dict((key, dict(artifacts=[entry])) for key, entry in entries.items()))
    write_atomic(output_file, json.dumps(output, sort_keys=True))


def main():
    options, rest = parse(sys.argv[1:])
    source = runtime_source(options)
    if options["--save"]:
        directory = options["--save"][-1]
        bootstrap = decode("".join(options["--bootstrap-b64"]), "bootstrap")
        write_atomic(os.path.join(directory, "bootstrap.py"), bootstrap)
        write_atomic(os.path.join(directory, "chard_runtime.py"), source)
        sys.stdout.write("chard: bootstrap and runtime saved to " + directory + "\n")
        for executor_input in options["--kfp-executor-input"]:
            publish_outputs(executor_input)
        return
    spec, kfp_args = kfp_step(options)
    rest = kfp_args + rest
    metrics = None
    for value in options["--kfp-metrics"]:
        name, sep, path = value.partition("=")
        if not sep:
            fail("--kfp-metrics expects NAME=PATH")
        metrics = (name, path)
        rest += ["--metrics-file", path]
    path = os.path.join(tempfile.mkdtemp(prefix="chard-"), "chard_runtime.py")
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(source)
    sys.argv = [path, "--spec-json", spec] + rest
    try:
        runpy.run_path(path, run_name="__main__")
        code = 0
    except SystemExit as done:
        code = done.code
    if code in (0, None):
        for executor_input in options["--kfp-executor-input"]:
            publish_outputs(executor_input, metrics)
    sys.exit(code)


if __name__ == "__main__":
    main()
