"""Chard's KFP pipeline specs checked by the real KFP SDK (kfp and kfp-kubernetes from PyPI).

For the example notebook (examples/churn) and a notebook of tricky cases
(tests/fixtures/kfp/tricky.ipynb: parameters of all four types, one a text with `{{...}}` in it,
metrics, a PVC, a step with two parents, cpu/memory limits and a GPU, secrets as environment
variables, pod labels and annotations, pull policy, deadline, retries, one cached step), compiled
by `chard compile --target kfp`:

- the pipeline spec parses into kfp's PipelineSpec protobuf with unknown fields refused, and the
  platform spec into kfp-kubernetes' KubernetesExecutorConfig, the same way;
- the SDK loads it as a component (`kfp.components.load_component_from_file`) with the notebook's
  parameters and their types, and KFP's compiler accepts it as a sub-pipeline of a pipeline;
- it means the same as the pipeline written by hand with the SDK (tests/kfp/pipelines/), compiled
  by KFP's own compiler: the same tasks, dependencies, wiring of each input, inputs and outputs
  with their types, caching, retries, resources and Kubernetes settings (specs.structure). Deliberate differences,
  checked and then taken out by specs.chard_structure: Chard's `chard-runtime` task, text
  parameter defaults that Chard encodes so that KFP never substitutes `{{...}}` in them, and the
  constant `chard_spec`/`chard_spec_sha256` input parameters of every step (its compressed code
  and its sha256). The executors differ by nature (Chard's run its bootstrap, the SDK's its
  Python functions; Chard's are shared by the steps with the same container and Kubernetes
  settings, `exec-chard-step`, `exec-chard-step-2`, ..., and name nothing of a step, which the
  bootstrap reads from the executor input) and are not compared beyond their resources and
  Kubernetes settings;
- kfp.local runs both pipelines on this machine and their metrics agree; and runs Chard's tricky
  spec again with its steps put on two shared executors (`--kfp-io`: the executor names nothing
  of a step), to the same metrics.

kfp.local's SubprocessRunner (the runner that needs no Docker) runs Lightweight Python components
only: it refuses any task whose command does not run `kfp.dsl.executor_main`
(SubprocessTaskHandler.validate_not_container_component), and Chard's steps are container
components (`python3 bootstrap.py ...`). Its DockerRunner would run them in their images, but
there is no Docker here. So Chard's spec runs with that one check lifted; everything else is
kfp.local's own: the DAG order, the resolution of `{{$...}}` placeholders (executor input, artifact
paths, parameters), the artifact store and the executor outputs the metrics come from. The
hand-written pipeline runs with kfp.local untouched. `test_kfp_local_refuses_container_components`
shows the check.
"""
import base64
import contextlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp import compiler, components, dsl, local
from kfp.local import config as local_config
from kfp.local import subprocess_task_handler
from kfp.pipeline_spec import pipeline_spec_pb2

import specs
from pipelines import churn, tricky

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {
    "churn": ROOT / "examples" / "churn" / "churn.ipynb",
    "tricky": ROOT / "tests" / "fixtures" / "kfp" / "tricky.ipynb",
}
BY_HAND = {"churn": churn.pipeline, "tricky": tricky.pipeline}
# Arguments of the local runs (fewer trees: the same code, a quicker run).
RUN_ARGUMENTS = {"churn": {"N_TREES": 20}, "tricky": {"ROUNDS": 4}}


@pytest.fixture(scope="session")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("kfp")


@pytest.fixture(scope="session")
def chard_spec(out):
    """name -> the path of Chard's compiled spec (`chard compile --target kfp`)."""
    paths = {}
    for name, notebook in NOTEBOOKS.items():
        path = out / f"{name}.chard.yaml"
        done = subprocess.run(
            ["node", str(ROOT / "bin" / "chard.js"), "compile", str(notebook), "--target", "kfp",
             "-o", str(path)], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        paths[name] = path
    return paths


@pytest.fixture(scope="session")
def kfp_spec(out):
    """name -> the path of the hand-written pipeline compiled by KFP's compiler."""
    paths = {}
    for name, pipeline in BY_HAND.items():
        paths[name] = out / f"{name}.kfp.yaml"
        compiler.Compiler().compile(pipeline, str(paths[name]))
    return paths


def documents(path):
    with open(path, encoding="utf-8") as handle:
        return list(yaml.safe_load_all(handle))


def write(path, docs):
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump_all(docs, handle, sort_keys=True)
    return path


# --- strict parsing ---------------------------------------------------------------------------

def test_the_real_compilers_reference_specs_pass_the_strict_parse():
    for path in sorted((ROOT / "tests" / "fixtures" / "kfp" / "reference").glob("*.yaml")):
        assert specs.load(path).pipeline.root.dag.tasks, path


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_chards_spec_parses_strictly_into_kfps_protobuf_messages(chard_spec, name):
    spec = specs.load(chard_spec[name])
    assert spec.pipeline.schema_version == "2.1.0"
    assert set(spec.pipeline.root.dag.tasks) >= {specs.RUNTIME_TASK}
    for task in spec.pipeline.root.dag.tasks.values():
        assert task.component_ref.name in spec.pipeline.components
        label = spec.pipeline.components[task.component_ref.name].executor_label
        assert label in spec.pipeline.deployment_spec["executors"]


FIXTURES = ROOT / "tests" / "fixtures"


@pytest.mark.parametrize("notebook", sorted(p.name for p in (FIXTURES / "notebooks").glob("*.ipynb")))
def test_every_fixture_notebooks_spec_parses_strictly_and_loads(out, notebook):
    path = out / (notebook + ".yaml")
    done = subprocess.run(
        ["node", str(ROOT / "bin" / "chard.js"), "compile", str(FIXTURES / "notebooks" / notebook),
         "--target", "kfp", "-o", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    specs.load(path)
    components.load_component_from_file(str(path))


@pytest.mark.parametrize("golden", sorted(p.name for p in (FIXTURES / "golden").glob("*.kfp.yaml")))
def test_the_golden_kfp_specs_parse_strictly_and_load(golden):
    # churn.kfp.yaml has what notebooks above do not: secrets, pod labels and annotations, two
    # claims, pull policy (tests/core/compile/kfp.spec.ts keeps it equal to the compiler's output).
    spec = specs.load(FIXTURES / "golden" / golden)
    components.load_component_from_file(str(FIXTURES / "golden" / golden))
    assert spec.pipeline.root.dag.tasks


def test_the_pvc_mounts_parse_as_kfp_kubernetes_platform_config(chard_spec):
    spec = specs.load(chard_spec["tricky"])
    platform = spec.platform
    # Steps share executors when their containers and Kubernetes settings are the same; the
    # tricky notebook's four steps all differ (limits, GPU, secrets, pod metadata).
    labels = {c.executor_label for c in spec.pipeline.components.values()}
    assert sorted(platform) == sorted(labels) == ["exec-chard-runtime", "exec-chard-step",
                                                  "exec-chard-step-2", "exec-chard-step-3",
                                                  "exec-chard-step-4"]
    assert platform.pop("exec-chard-runtime").image_pull_policy == "IfNotPresent"
    for config in platform.values():
        [mount] = config.pvc_mount
        assert mount.mount_path == "/mnt/data"
        assert mount.pvc_name_parameter.runtime_value.constant.string_value == "chard-data"


# --- the SDK's own loader and compiler --------------------------------------------------------

@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_the_sdk_loads_chards_spec_with_the_notebooks_parameters(chard_spec, kfp_spec, name):
    chard = components.load_component_from_file(str(chard_spec[name]))
    by_hand = components.load_component_from_file(str(kfp_spec[name]))
    assert chard.name == by_hand.name
    assert {k: v.type for k, v in chard.component_spec.inputs.items()} == \
        {k: v.type for k, v in by_hand.component_spec.inputs.items()}
    assert chard.component_spec.outputs == by_hand.component_spec.outputs


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_kfps_compiler_takes_chards_spec_as_a_sub_pipeline(chard_spec, out, name):
    chard = components.load_component_from_file(str(chard_spec[name]))

    @dsl.pipeline(name="outer")
    def outer():
        chard()

    path = out / f"{name}.outer.yaml"
    compiler.Compiler().compile(outer, str(path))
    nested = specs.load(path)
    inner = specs.load(chard_spec[name])
    # Chard's tasks, components and platform config, carried over by KFP's compiler.
    assert set(inner.pipeline.components) < set(nested.pipeline.components)
    assert sorted(nested.platform) == sorted(inner.platform)


# --- the same pipeline as the one written by hand ---------------------------------------------

@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_chards_spec_means_what_kfps_compiler_writes_for_the_pipeline_by_hand(
        chard_spec, kfp_spec, name):
    expected = specs.structure(specs.load(kfp_spec[name]))
    actual = specs.chard_structure(specs.load(chard_spec[name]))
    differences = specs.diff(expected, actual)
    assert not differences, "Chard's spec differs from KFP's compiler:\n  " + \
        "\n  ".join(differences)


def test_the_comparison_covers_the_tricky_cases(kfp_spec):
    # Not a comparison of empty structures: they hold what the tricky notebook asks for.
    tasks = specs.structure(specs.load(kfp_spec["tricky"]))["tasks"]
    assert tasks["combine"]["after"] == ["left", "right"]
    assert tasks["make_base"]["resources"]["resourceMemoryLimit"] == "256Mi"
    assert tasks["right"]["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert tasks["left"]["output artifacts"] == {"left": "system.Artifact",
                                                 "metrics": "system.Metrics"}
    assert tasks["combine"]["input parameters"] == {"LABEL": "STRING", "VERBOSE": "BOOLEAN"}
    assert all(task["kubernetes"]["pvcMount"] for task in tasks.values())
    assert tasks["left"]["kubernetes"]["secretAsEnv"][0]["secretName"] == "db-creds"
    assert [name for name, task in tasks.items() if task["cache"]] == ["right"]
    assert tasks["left"]["retry"]["maxRetryCount"] == 2


# --- broken specs are rejected ----------------------------------------------------------------

def test_a_misspelt_field_is_rejected_by_the_strict_parse(chard_spec):
    pipeline, platform = documents(chard_spec["tricky"])
    pipeline["root"]["dag"]["tasks"]["combine"]["dependentTask"] = \
        pipeline["root"]["dag"]["tasks"]["combine"].pop("dependentTasks")
    with pytest.raises(json_format.ParseError, match="dependentTask"):
        specs.parse_pipeline(pipeline)
    # The SDK's own loader refuses it too.
    with pytest.raises(json_format.ParseError, match="dependentTask"):
        components.load_component_from_text(yaml.safe_dump_all([pipeline, platform]))


def test_a_wrongly_typed_value_is_rejected_by_the_strict_parse(chard_spec):
    pipeline, _ = documents(chard_spec["tricky"])
    pipeline["root"]["inputDefinitions"]["parameters"]["ROUNDS"]["parameterType"] = "INTEGER"
    with pytest.raises(json_format.ParseError, match="INTEGER"):
        specs.parse_pipeline(pipeline)


def test_a_misspelt_pvc_setting_is_rejected_by_kfp_kubernetes_config(chard_spec):
    pipeline, platform = documents(chard_spec["tricky"])
    label = pipeline["components"]["comp-left"]["executorLabel"]
    executor = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][label]
    executor["pvcMount"][0]["mountpath"] = executor["pvcMount"][0].pop("mountPath")
    with pytest.raises(json_format.ParseError, match="mountpath"):
        specs.parse_platform(platform)


def test_a_step_wired_wrong_differs_from_kfps_compiler_with_a_readable_diff(
        chard_spec, kfp_spec, out):
    pipeline, platform = documents(chard_spec["tricky"])
    combine = pipeline["root"]["dag"]["tasks"]["combine"]
    # `right` taken from `left`, a dependency on a task that does not exist, a parameter dropped.
    combine["inputs"]["artifacts"]["right"]["taskOutputArtifact"]["producerTask"] = "left"
    combine["dependentTasks"] = ["chard-runtime", "left", "rihgt"]
    del combine["inputs"]["parameters"]["VERBOSE"]
    broken = specs.load(write(out / "broken.yaml", [pipeline, platform]))
    differences = specs.diff(specs.structure(specs.load(kfp_spec["tricky"])),
                             specs.chard_structure(broken))
    assert differences == [
        'tasks.combine.after: KFP\'s compiler has ["left", "right"], '
        'Chard has ["left", "rihgt (no such task)"]',
        'tasks.combine.inputs.VERBOSE: missing (KFP\'s compiler has "pipeline parameter VERBOSE")',
        'tasks.combine.inputs.right: KFP\'s compiler has "artifact right of right", '
        'Chard has "artifact right of left"',
    ]


def test_a_step_without_the_runtime_is_not_taken_for_chards(chard_spec, out):
    pipeline, platform = documents(chard_spec["tricky"])
    del pipeline["root"]["dag"]["tasks"]["left"]["inputs"]["artifacts"]["chard_runtime"]
    with pytest.raises(AssertionError, match="step left does not take the runtime"):
        specs.chard_structure(specs.load(write(out / "no-runtime.yaml", [pipeline, platform])))


# --- kfp.local runs both ----------------------------------------------------------------------

@contextlib.contextmanager
def local_runner(pipeline_root):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root),
               raise_on_error=True)
    try:
        yield
    finally:
        local_config.LocalExecutionConfig.instance = None  # as before local.init


def metrics_of_run(pipeline_root, spec_path):
    """Step (display name) -> its metrics, from the executor outputs of the one run under
    pipeline_root (parsed strictly into kfp's ExecutorOutput: Chard's bootstrap writes them)."""
    spec = specs.load(spec_path).pipeline
    [run] = [p for p in Path(pipeline_root).iterdir() if p.is_dir()]
    found = {}
    for key, task in spec.root.dag.tasks.items():
        component = spec.components[task.component_ref.name]
        wanted = [n for n, a in component.output_definitions.artifacts.items()
                  if a.artifact_type.schema_title == "system.Metrics"]
        if not wanted:
            continue
        text = (run / key / "executor_output.json").read_text()
        output = json_format.Parse(text, pipeline_spec_pb2.ExecutorOutput(),
                                   ignore_unknown_fields=False)
        [artifact] = output.artifacts[wanted[0]].artifacts
        metadata = json_format.MessageToDict(artifact.metadata)
        metadata.pop("display_name", None)  # Chard names it for the KFP UI; the SDK does not
        found[task.task_info.name] = metadata
    return found


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The example's folder (its steps read customers.csv from the working directory)."""
    folder = tmp_path / "work"
    shutil.copytree(NOTEBOOKS["churn"].parent, folder)
    monkeypatch.chdir(folder)
    return folder


def test_kfp_local_refuses_container_components(chard_spec, workdir):
    with local_runner(workdir / "refused"):
        with pytest.raises(RuntimeError, match="only supports running Lightweight Python"):
            components.load_component_from_file(str(chard_spec["tricky"]))()


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_kfp_local_runs_both_pipelines_to_the_same_metrics(chard_spec, kfp_spec, workdir,
                                                            monkeypatch, name):
    arguments = RUN_ARGUMENTS[name]
    with local_runner(workdir / "by-hand"):
        BY_HAND[name](**arguments)
    by_hand = metrics_of_run(workdir / "by-hand", kfp_spec[name])

    # The one check lifted (see the module's docstring): Chard's steps are container components.
    monkeypatch.setattr(subprocess_task_handler.SubprocessTaskHandler,
                        "validate_not_container_component", lambda self, command: None)
    with local_runner(workdir / "chard"):
        components.load_component_from_file(str(chard_spec[name]))(**arguments)
    chard = metrics_of_run(workdir / "chard", chard_spec[name])

    assert chard == by_hand
    assert by_hand and all(by_hand.values())
    if name == "tricky":
        base = list(range(arguments["ROUNDS"] * 4))
        left = sum(v * 0.5 for v in base)
        assert by_hand == {"left": {"left": left},
                           "combine": {"total": left + sum(v * v for v in base)}}


def test_parameter_text_reaches_chards_steps_unsubstituted(chard_spec):
    """The `{{...}}` in LABEL's default is encoded, so neither KFP nor kfp.local rewrites it."""
    pipeline, _ = documents(chard_spec["tricky"])
    default = pipeline["root"]["inputDefinitions"]["parameters"]["LABEL"]["defaultValue"]
    assert default.startswith(specs.TEXT_PREFIX)
    assert base64.b64decode(default[len(specs.TEXT_PREFIX):]).decode() == \
        "run {{workflow.name}} 'q'"
    assert "{{workflow" not in json.dumps(pipeline)


def test_kfp_local_runs_steps_that_share_one_executor(chard_spec, workdir, monkeypatch, out):
    """An executor's arguments name nothing of a step, so any steps may share one: the tricky
    notebook's steps, each given the executor of the first step with (or without) metrics, run
    under kfp.local to the same metrics (its steps differ in limits, GPU and secrets, which is
    why Chard gives them executors of their own; kfp.local ignores those settings)."""
    pipeline, platform = documents(chard_spec["tricky"])
    by_metrics = {}
    for component in pipeline["components"].values():
        label = component["executorLabel"]
        args = pipeline["deploymentSpec"]["executors"][label]["container"]["args"]
        if "--kfp-io" in args:
            component["executorLabel"] = by_metrics.setdefault("--kfp-metrics-artifact" in args,
                                                               label)
    assert len(by_metrics) == 2
    shared = out / "tricky.shared.yaml"
    shared.write_text(yaml.safe_dump_all([pipeline, platform], sort_keys=False))
    labels = [c.executor_label for c in specs.load(shared).pipeline.components.values()]
    assert len(labels) - len(set(labels)) == 2

    monkeypatch.setattr(subprocess_task_handler.SubprocessTaskHandler,
                        "validate_not_container_component", lambda self, command: None)
    arguments = RUN_ARGUMENTS["tricky"]
    with local_runner(workdir / "shared"):
        components.load_component_from_file(str(shared))(**arguments)
    base = list(range(arguments["ROUNDS"] * 4))
    left = sum(v * 0.5 for v in base)
    assert metrics_of_run(workdir / "shared", shared) == {
        "left": {"left": left}, "combine": {"total": left + sum(v * v for v in base)}}
