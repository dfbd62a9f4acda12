"""Reading KFP pipeline specs the strict way and reducing them to what a pipeline means.

`load` parses a pipeline spec YAML (Chard's or the KFP compiler's) into kfp's own protobuf
messages with unknown fields refused; `structure` reduces one to its task graph, parameters,
inputs, outputs, resources and PVC mounts, keyed by the tasks' display names; `chard_structure`
first takes away what Chard adds on purpose (see its docstring); `diff` lists the differences of
two structures, one readable line each.
"""
import base64
import hashlib
import json
import zlib

import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

# Chard's own task and artifact (src/core/compile/kfp.ts: KFP_RUNTIME_TASK, KFP_RUNTIME_ARTIFACT).
RUNTIME_TASK = "chard-runtime"
RUNTIME_ARTIFACT = "chard_runtime"
# The constant input parameters of every step task: its step spec (base64 of the zlib-compressed
# JSON) and that JSON's sha256 (src/core/compile/kfp.ts: KFP_SPEC_PARAMETER).
SPEC_PARAMETER = "chard_spec"
SPEC_SHA256_PARAMETER = "chard_spec_sha256"
# Chard's encoding of text parameter values (src/core/compile/payload.ts: PARAM_B64_PREFIX).
TEXT_PREFIX = "chard:b64:"


class Spec:
    """A pipeline spec file: the PipelineSpec message and, per executor, the Kubernetes config."""

    def __init__(self, pipeline, platform):
        self.pipeline = pipeline
        self.platform = platform


def parse_pipeline(document):
    """A PipelineSpec from its JSON form; unknown or mistyped fields raise ParseError."""
    return json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec(),
                                 ignore_unknown_fields=False)


def parse_platform(document):
    """Executor label -> KubernetesExecutorConfig (kfp-kubernetes), strictly."""
    out = {}
    if document is None:
        return out
    platforms = document.get("platforms")
    if set(document) != {"platforms"} or set(platforms) != {"kubernetes"}:
        raise ValueError("the second document is not a Kubernetes platform spec: "
                         + json.dumps(sorted(document)))
    spec = json_format.ParseDict(platforms["kubernetes"], pipeline_spec_pb2.SinglePlatformSpec(),
                                 ignore_unknown_fields=False)
    for label, config in spec.deployment_spec.executors.items():
        out[label] = json_format.ParseDict(
            json_format.MessageToDict(config),
            kubernetes_executor_config_pb2.KubernetesExecutorConfig(),
            ignore_unknown_fields=False)
    return out


def load(path):
    with open(path, encoding="utf-8") as handle:
        documents = list(yaml.safe_load_all(handle))
    if not 1 <= len(documents) <= 2:
        raise ValueError(f"{path}: {len(documents)} YAML documents, expected 1 or 2")
    return Spec(parse_pipeline(documents[0]),
                parse_platform(documents[1] if len(documents) == 2 else None))


def _value(value):
    return json_format.MessageToDict(value)


def _type_name(parameter_type):
    return pipeline_spec_pb2.ParameterType.ParameterTypeEnum.Name(parameter_type)


def _component_io(component):
    inputs, outputs = component.input_definitions, component.output_definitions
    return {
        "input parameters": {k: _type_name(v.parameter_type) for k, v in inputs.parameters.items()},
        "input artifacts": {k: v.artifact_type.schema_title for k, v in inputs.artifacts.items()},
        "output parameters": {k: _type_name(v.parameter_type)
                              for k, v in outputs.parameters.items()},
        "output artifacts": {k: v.artifact_type.schema_title for k, v in outputs.artifacts.items()},
    }


def structure(spec):
    """What the pipeline means, independent of how its executors run: parameters (type,
    default, optional), and per task (by display name) its dependencies, where each input comes
    from, its component's inputs and outputs with their types, caching, retries, container
    resources and Kubernetes settings (kfp-kubernetes' executor config: PVC mounts, secrets,
    pod metadata, pull policy, deadline)."""
    pipeline = spec.pipeline
    tasks = pipeline.root.dag.tasks
    names = {key: task.task_info.name or key for key, task in tasks.items()}
    executors = json_format.MessageToDict(pipeline.deployment_spec)["executors"]
    out_tasks = {}
    for key, task in tasks.items():
        component = pipeline.components[task.component_ref.name]
        label = component.executor_label
        container = executors[label]["container"]
        platform = spec.platform.get(label)
        wiring = {}
        for name, parameter in task.inputs.parameters.items():
            source = parameter.WhichOneof("kind")
            if source == "component_input_parameter":
                wiring[name] = "pipeline parameter " + parameter.component_input_parameter
            elif source == "task_output_parameter":
                wiring[name] = "output {} of {}".format(
                    parameter.task_output_parameter.output_parameter_key,
                    names[parameter.task_output_parameter.producer_task])
            else:
                wiring[name] = "constant " + json.dumps(_value(parameter.runtime_value.constant))
        for name, artifact in task.inputs.artifacts.items():
            wiring[name] = "artifact {} of {}".format(
                artifact.task_output_artifact.output_artifact_key,
                names.get(artifact.task_output_artifact.producer_task,
                          artifact.task_output_artifact.producer_task + " (no such task)"))
        out_tasks[names[key]] = {
            "after": sorted(names.get(t, t + " (no such task)") for t in task.dependent_tasks),
            "inputs": wiring,
            **_component_io(component),
            "cache": task.caching_options.enable_cache,
            "retry": json_format.MessageToDict(task.retry_policy),
            "resources": container.get("resources", {}),
            "kubernetes": json_format.MessageToDict(platform) if platform is not None else {},
        }
    parameters = {
        name: {"type": _type_name(p.parameter_type), "default": _value(p.default_value),
               "optional": p.is_optional}
        for name, p in pipeline.root.input_definitions.parameters.items()
    }
    return {"name": pipeline.pipeline_info.name, "parameters": parameters, "tasks": out_tasks}


def chard_structure(spec):
    """`structure` of a Chard spec with Chard's deliberate additions taken out, after checking
    that they are what they should be:

    - the `chard-runtime` task, which ships the step runtime once (a root task whose output
      artifact `chard_runtime` every step takes as an input: checked, then removed);
    - text parameter defaults, which Chard writes as `chard:b64:` + base64 so that KFP never
      substitutes a `{{...}}` in them (decoded here; the step bootstrap decodes them the same way);
    - the constant input parameters `chard_spec` and `chard_spec_sha256` of every step: its
      compressed step spec and the spec's sha256 (checked: the spec inflates to the JSON of that
      task's step with that sha256; then removed). They let steps share executors, whose
      arguments then name nothing of a step (the bootstrap reads the spec, the parameter values
      and the artifact paths from KFP's executor input).
    """
    out = structure(spec)
    names = {key: task.task_info.name or key for key, task in spec.pipeline.root.dag.tasks.items()}
    for key, task in spec.pipeline.root.dag.tasks.items():
        if key == RUNTIME_TASK:
            continue
        name = names[key]
        constants = {}
        for parameter in (SPEC_PARAMETER, SPEC_SHA256_PARAMETER):
            wired = task.inputs.parameters.get(parameter)
            if wired is None or wired.WhichOneof("kind") != "runtime_value":
                raise AssertionError(f"step {name} has no constant {parameter}")
            constants[parameter] = _value(wired.runtime_value.constant)
            declared = out["tasks"][name]["input parameters"].pop(parameter, None)
            if declared != "STRING":
                raise AssertionError(f"step {name} declares {parameter} as {declared}")
            out["tasks"][name]["inputs"].pop(parameter)
        text = zlib.decompress(base64.b64decode(constants[SPEC_PARAMETER])).decode("utf-8")
        if (hashlib.sha256(text.encode("utf-8")).hexdigest() != constants[SPEC_SHA256_PARAMETER]
                or json.loads(text)["stepId"] != key):
            raise AssertionError(f"step {name} does not carry its own spec with its sha256")
    runtime = out["tasks"].pop(RUNTIME_TASK, None)
    if runtime is None:
        raise AssertionError(f"Chard's spec has no {RUNTIME_TASK} task")
    if runtime["after"] or runtime["output artifacts"] != {RUNTIME_ARTIFACT: "system.Artifact"}:
        raise AssertionError(f"the {RUNTIME_TASK} task is not a root task with one output: "
                             + json.dumps(runtime))
    for name, task in out["tasks"].items():
        wired = task["inputs"].pop(RUNTIME_ARTIFACT, None)
        declared = task["input artifacts"].pop(RUNTIME_ARTIFACT, None)
        if (wired != f"artifact {RUNTIME_ARTIFACT} of {RUNTIME_TASK}"
                or declared != "system.Artifact" or RUNTIME_TASK not in task["after"]):
            raise AssertionError(f"step {name} does not take the runtime from {RUNTIME_TASK}")
        task["after"].remove(RUNTIME_TASK)
    for parameter in out["parameters"].values():
        default = parameter["default"]
        if isinstance(default, str) and default.startswith(TEXT_PREFIX):
            parameter["default"] = base64.b64decode(default[len(TEXT_PREFIX):]).decode("utf-8")
    return out


def diff(expected, actual, path=""):
    """Differences between two structures, one line each, with their place."""
    lines = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                lines.append(f"{where}: missing (KFP's compiler has {json.dumps(expected[key])})")
            elif key not in expected:
                lines.append(f"{where}: extra {json.dumps(actual[key])} (not in KFP's output)")
            else:
                lines += diff(expected[key], actual[key], where)
    elif expected != actual:
        lines.append(f"{path}: KFP's compiler has {json.dumps(expected)}, "
                     f"Chard has {json.dumps(actual)}")
    return lines
