"""Pipeline metrics as JSON values."""

import json
import math

import numpy as np
import pytest

from chard_runtime import metrics
from chard_runtime.errors import MarshalError


def test_numbers_bools_and_text_and_numpy_scalars():
    assert metrics.metric_value("a", np.float64(0.5)) == 0.5
    assert metrics.metric_value("b", np.int64(3)) == 3
    assert metrics.metric_value("c", True) is True
    assert [metrics.metric_value("d", v) for v in (math.nan, math.inf, -math.inf)] == [
        "NaN", "Infinity", "-Infinity"]


def test_anything_else_says_what_it_got():
    with pytest.raises(MarshalError, match="metric \"a\" must be a number, bool or string, got "
                                           "builtins.list"):
        metrics.metric_value("a", [1])


def test_recorded_in_the_step_dir_and_the_metrics_file(tmp_path, capsys):
    spec = {"metrics": ["acc"], "step": "s", "stepId": "s"}
    metrics.record_metrics(spec, str(tmp_path), str(tmp_path / "m.json"), {"acc": 0.75})
    assert json.loads((tmp_path / "s" / "_metrics.json").read_text()) == {"acc": 0.75}
    assert json.loads((tmp_path / "m.json").read_text()) == {"acc": 0.75}
    assert "chard: metric acc = 0.75" in capsys.readouterr().err
    with pytest.raises(MarshalError, match='step "s" did not define metric "acc"'):
        metrics.record_metrics(spec, str(tmp_path), None, {})
