"""Pipeline metrics: the values a step names in `pipeline-metrics`, as JSON numbers, bools or text."""

import json
import os

from .errors import MarshalError, log
from .files import write_text_atomic
from .marshalling import _type_name


def record_metrics(spec, data_dir, metrics_file, namespace):
    """Write the step's metrics to DATA_DIR/STEP_ID/_metrics.json and to metrics_file (if any)."""
    names = spec["metrics"]
    metrics = {}
    for name in names:
        if name not in namespace:
            raise MarshalError("step %s did not define metric %s" % (
                json.dumps(spec["step"]), json.dumps(name)))
        metrics[name] = metric_value(name, namespace[name])
    text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    if names:
        step_dir = os.path.join(data_dir, spec["stepId"])
        write_text_atomic(os.path.join(step_dir, "_metrics.json"), text)
    if metrics_file:
        write_text_atomic(metrics_file, text)
    for name in names:
        log("metric %s = %s" % (name, json.dumps(metrics[name])))


def metric_value(name, value):
    """The metric as JSON: numbers (NaN and infinities as text), bools and strings."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) in (
            (), None):
        try:
            value = value.item()
        except Exception:
            pass
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    raise MarshalError("metric %s must be a number, bool or string, got %s" % (
        json.dumps(name), _type_name(value)))
