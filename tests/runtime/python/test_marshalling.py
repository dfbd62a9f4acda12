"""Saving a value beside its manifest, and verifying and loading it as an input."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from chard_runtime import marshalling
from chard_runtime.errors import MarshalError


def save_and_load(tmp_path, value, scheme="crc32-chunks-64MiB"):
    directory = str(tmp_path / "x")
    manifest = marshalling.save_value("x", value, directory, "make", scheme)
    loaded = marshalling.InputValue("x", "make", directory)
    loaded.read_manifest()
    loaded.verify()
    assert loaded.load(strict=True)
    return manifest, loaded.value


@pytest.mark.parametrize("scheme", ["crc32-chunks-64MiB", "sha256"])
def test_numpy_arrays_round_trip_in_any_memory_order(tmp_path, scheme):
    for array in (np.arange(12.0).reshape(3, 4), np.asfortranarray(np.ones((3, 5))),
                  np.arange(20)[::3], np.empty((0, 2))):
        manifest, value = save_and_load(tmp_path, array, scheme)
        assert manifest["backend"] == "numpy" and manifest["hash"] == scheme
        np.testing.assert_array_equal(value, array)
        assert value.dtype == array.dtype


def test_frames_and_plain_values_round_trip(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    _, value = save_and_load(tmp_path, frame)
    pd.testing.assert_frame_equal(value, frame)
    manifest, value = save_and_load(tmp_path, {"k": [1, 2.5]})
    assert value == {"k": [1, 2.5]} and manifest["backend"] == "pickle"
    # The frame's parquet or pickle file was replaced: one value file beside the manifest.
    assert sorted(os.listdir(tmp_path / "x")) == ["manifest.json", "value.pkl"]


def test_a_corrupt_value_is_refused_before_use(tmp_path):
    directory = tmp_path / "x"
    marshalling.save_value("x", list(range(1000)), str(directory), "make")
    path = directory / "value.pkl"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    value = marshalling.InputValue("x", "make", str(directory))
    value.read_manifest()
    with pytest.raises(MarshalError, match='input "x" from step "make" is corrupt'):
        value.verify()


def test_a_tampered_manifest_is_invalid(tmp_path):
    directory = tmp_path / "x"
    marshalling.save_value("x", 1, str(directory), "make")
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["chunks"] = ["00000000"]
    (directory / "manifest.json").write_text(json.dumps(manifest))
    value = marshalling.InputValue("x", "make", str(directory))
    with pytest.raises(MarshalError, match="invalid manifest"):
        value.read_manifest()


def test_a_missing_input_says_which_step_should_have_made_it(tmp_path):
    value = marshalling.InputValue("x", "make", str(tmp_path / "nowhere"))
    with pytest.raises(MarshalError, match='did step "make" run and succeed'):
        value.read_manifest()


def test_notebook_functions_and_classes_are_saved_with_pickle_first():
    def f():
        return 1
    f.__module__ = "__main__"
    assert marshalling.choose_backends(f)[0] == "pickle"
    assert marshalling.choose_backends(np.arange(3))[0] == "numpy"
