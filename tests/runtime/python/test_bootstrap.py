"""The bootstrap the manifests carry: argument decoding, the runtime check, KFP metrics."""

import base64
import hashlib
import json
import zlib

import pytest

import bootstrap


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def test_encoded_parameters_are_decoded_and_other_arguments_pass_through():
    options, rest = bootstrap.parse([
        "--runtime-b64", "AAA", "--runtime-b64", "BBB", "--param",
        "note=" + bootstrap.PREFIX + b64("{{workflow.name}}"), "--param", "n=3",
        "--data-dir", "/data"])
    assert options["--runtime-b64"] == ["AAA", "BBB"]
    assert rest == ["--param", "note={{workflow.name}}", "--param", "n=3", "--data-dir", "/data"]


def test_a_missing_value_or_bad_base64_stops_with_status_2(capsys):
    with pytest.raises(SystemExit) as done:
        bootstrap.parse(["--spec-b64"])
    assert done.value.code == 2
    with pytest.raises(SystemExit):
        bootstrap.parse(["--param", "x=" + bootstrap.PREFIX + "not base64!"])
    assert "cannot decode the value of parameter x" in capsys.readouterr().err


def test_the_runtime_is_reassembled_from_parts_and_checked_against_its_sha256(capsys):
    source = "print('runtime')\n"
    encoded = b64(source)
    digest = hashlib.sha256(source.encode()).hexdigest()
    options = {"--runtime-b64": [encoded[:5], encoded[5:]], "--runtime-b64-file": [],
               "--runtime-file": [], "--runtime-sha256": [digest]}
    assert bootstrap.runtime_source(options) == source
    options["--runtime-sha256"] = ["0" * 64]
    with pytest.raises(SystemExit):
        bootstrap.runtime_source(options)
    assert "recompile and resubmit the pipeline" in capsys.readouterr().err


def test_a_step_spec_is_found_by_sha256_in_a_bundle_given_in_parts(capsys):
    specs = {}
    for text in ('{"name": "a"}', '{"name": "b"}'):
        specs[hashlib.sha256(text.encode()).hexdigest()] = text
    packed = base64.b64encode(zlib.compress(json.dumps(specs).encode())).decode("ascii")
    wanted = hashlib.sha256(b'{"name": "b"}').hexdigest()
    options, _ = bootstrap.parse([
        "--spec-bundle-zb64", packed[:10], "--spec-bundle-zb64", packed[10:],
        "--spec-sha256", wanted])
    assert bootstrap.step_spec(options) == '{"name": "b"}'
    options["--spec-sha256"] = ["0" * 64]
    with pytest.raises(SystemExit):
        bootstrap.step_spec(options)
    assert "carries no step spec with sha256 " + "0" * 64 in capsys.readouterr().err


def test_kfp_metrics_become_the_metadata_of_the_metrics_artifact(tmp_path):
    values, output = tmp_path / "metrics.json", tmp_path / "executor-output.json"
    values.write_text(json.dumps({"accuracy": 0.9}))
    executor_input = json.dumps({"outputs": {
        "outputFile": str(output),
        "artifacts": {"m": {"artifacts": [{"name": "m-id", "uri": "s3://b/m"}]}}}})
    bootstrap.publish_outputs(executor_input, ("m", str(values)))
    assert json.loads(output.read_text()) == {"artifacts": {"m": {"artifacts": [{
        "name": "m-id", "uri": "s3://b/m",
        "metadata": {"accuracy": 0.9, "display_name": "m"}}]}}}


def test_the_executor_output_lists_every_output_artifact_as_kfps_python_executor_does(tmp_path):
    # kfp.local passes a task's output artifacts on only when its executor output lists them.
    output = tmp_path / "executor-output.json"
    executor_input = json.dumps({"inputs": {"parameterValues": {"n": 3}}, "outputs": {
        "outputFile": str(output),
        "artifacts": {
            "model": {"artifacts": [{"name": "model", "uri": "s3://b/model",
                                     "type": {"schemaTitle": "system.Artifact"}}]},
            "X": {"artifacts": [{"name": "X", "uri": "s3://b/X"}]}}}})
    bootstrap.publish_outputs(executor_input)
    assert json.loads(output.read_text()) == {"artifacts": {
        "X": {"artifacts": [{"name": "X", "uri": "s3://b/X", "metadata": {}}]},
        "model": {"artifacts": [{"name": "model", "uri": "s3://b/model", "metadata": {}}]}}}


def test_unreadable_metrics_leave_the_other_outputs_listed(tmp_path, capsys):
    output = tmp_path / "executor-output.json"
    executor_input = json.dumps({"outputs": {"outputFile": str(output), "artifacts": {
        "m": {"artifacts": [{"name": "m", "uri": "s3://b/m"}]},
        "y": {"artifacts": [{"name": "y", "uri": "s3://b/y"}]}}}})
    bootstrap.publish_outputs(executor_input, ("m", str(tmp_path / "missing.json")))
    assert json.loads(output.read_text())["artifacts"]["y"]["artifacts"][0]["uri"] == "s3://b/y"
    assert "the metrics are not shown in Kubeflow Pipelines" in capsys.readouterr().err


def test_the_bootstrap_never_carries_text_argo_or_kfp_would_substitute():
    with open(bootstrap.__file__, encoding="utf-8") as handle:
        assert "{{" not in handle.read()


def kfp_executor_input(spec_text, digest, parameters=None):
    packed = base64.b64encode(zlib.compress(spec_text.encode("utf-8"))).decode("ascii")
    values = dict(parameters or {}, chard_spec=packed, chard_spec_sha256=digest)
    return json.dumps({
        "inputs": {
            "parameterValues": values,
            "artifacts": {"df": {"artifacts": [{"name": "a1", "uri": "minio://mlpipeline/run/df"}]}},
        },
        "outputs": {
            "artifacts": {
                "model": {"artifacts": [{"name": "a2", "uri": "gs://bucket/run/model"}]},
                "metrics": {"artifacts": [{"name": "a3", "uri": "/tmp/local/metrics"}]},
            },
            "outputFile": "/tmp/out.json",
        },
    })


STEP_SPEC = json.dumps({
    "parameters": {"N": {"type": "int", "value": 1}, "LR": {"type": "float", "value": 0.5},
                   "ON": {"type": "bool", "value": False}, "NOTE": {"type": "str", "value": ""},
                   "X": {"type": "float", "value": 1.0}},
    "inputs": [{"name": "df", "from": "load", "fromId": "load"}],
    "outputs": ["model"],
})


def test_a_shared_kfp_executor_takes_the_spec_values_and_paths_from_the_executor_input():
    # Steps share one executor: its arguments name no step; the task's constant spec parameter
    # and KFP's executor input say what to run and where the values are.
    digest = hashlib.sha256(STEP_SPEC.encode()).hexdigest()
    executor_input = kfp_executor_input(STEP_SPEC, digest, {
        "N": 3, "LR": 0.01, "ON": True, "X": 2.0,
        "NOTE": bootstrap.PREFIX + b64("{{workflow.name}}")})
    options, rest = bootstrap.parse([
        "--kfp-spec", "chard_spec", "--kfp-spec-sha256", "chard_spec_sha256", "--kfp-io",
        "--kfp-metrics-artifact", "metrics", "--kfp-executor-input", executor_input,
        "--data-dir", "/d"])
    assert rest == ["--data-dir", "/d"]
    spec, args = bootstrap.kfp_step(options)
    assert spec == STEP_SPEC
    # The values as KFP's placeholders would print them, artifact URIs mapped to the paths KFP
    # mounts them at (minio:// -> /minio/, gs:// -> /gcs/, local paths as they are).
    assert args == ["--param", "N=3", "--param", "LR=0.01", "--param", "ON=true",
                    "--param", "NOTE={{workflow.name}}", "--param", "X=2",
                    "--input", "df=/minio/mlpipeline/run/df",
                    "--output", "model=/gcs/bucket/run/model"]
    assert options["--kfp-metrics"] == ["metrics=/tmp/local/metrics"]


def test_kfp_artifact_paths_follow_the_launchers_rules(monkeypatch):
    executor_input = {"inputs": {"artifacts": {
        "a": {"artifacts": [{"uri": "s3://b/a"}]},
        "c": {"artifacts": [{"uri": "s3://b/c", "customPath": "/mnt/c"}]}}}}
    assert bootstrap.kfp_path(executor_input, "inputs", "a") == "/s3/b/a"
    assert bootstrap.kfp_path(executor_input, "inputs", "c") == "/mnt/c"
    monkeypatch.setenv("ARTIFACT_LOCAL_PATH", "/debug")
    assert bootstrap.kfp_path(executor_input, "inputs", "a") == "/debug/s3/b/a"


def test_a_kfp_step_spec_with_another_sha256_or_a_missing_artifact_stops_with_status_2(capsys):
    options, _ = bootstrap.parse([
        "--kfp-spec", "chard_spec", "--kfp-spec-sha256", "chard_spec_sha256", "--kfp-io",
        "--kfp-executor-input", kfp_executor_input(STEP_SPEC, "0" * 64)])
    with pytest.raises(SystemExit) as done:
        bootstrap.kfp_step(options)
    assert done.value.code == 2
    assert "recompile and resubmit the pipeline" in capsys.readouterr().err
    other = json.dumps(dict(json.loads(STEP_SPEC), inputs=[{"name": "gone"}]))
    options, _ = bootstrap.parse([
        "--kfp-spec", "chard_spec", "--kfp-spec-sha256", "chard_spec_sha256", "--kfp-io",
        "--kfp-executor-input",
        kfp_executor_input(other, hashlib.sha256(other.encode()).hexdigest(), {
            "N": 1, "LR": 1, "ON": False, "NOTE": "", "X": 1})])
    with pytest.raises(SystemExit):
        bootstrap.kfp_step(options)
    assert "has no input artifact gone" in capsys.readouterr().err
