"""The command line, the step spec and pipeline parameters."""

import json

import pytest

from chard_runtime import spec
from chard_runtime.errors import UsageError

SPEC = {"version": 1, "pipeline": "p", "step": "s", "stepId": "s", "dataDir": "", "workdir": "",
        "code": [{"cell": 0, "source": "x = 1"}], "inputs": [], "outputs": ["x"], "metrics": [],
        "parameters": {"N": {"type": "int", "value": 3}, "RATE": {"type": "float", "value": 1},
                       "ON": {"type": "bool", "value": False}, "NAME": {"type": "str",
                                                                        "value": "a"}}}


def load(**changes):
    return spec.load_spec(spec.parse_args(["--spec-json", json.dumps(dict(SPEC, **changes))]))


def test_parameters_take_defaults_and_typed_overrides():
    values = spec.resolve_parameters(load(), {"N": " 7", "ON": "yes", "NAME": " b "})
    assert values == {"N": 7, "RATE": 1.0, "ON": True, "NAME": " b "}
    assert isinstance(values["RATE"], float)


@pytest.mark.parametrize("name,text,message", [
    ("N", "2.5", 'parameter N expects an int, got "2.5"'),
    ("ON", "maybe", 'parameter ON expects a bool, got "maybe"'),
])
def test_a_bad_override_says_what_was_expected(name, text, message):
    with pytest.raises(UsageError, match=message):
        spec.resolve_parameters(load(), {name: text})


@pytest.mark.parametrize("changes,message", [
    ({"version": 2}, "unsupported version 2"),
    ({"stepId": "Not_DNS"}, "stepId must be a DNS-1123 label"),
    ({"outputs": ["not an identifier"]}, "output name must be a Python identifier"),
    ({"valueDigest": "md5"}, 'valueDigest must be one of crc32, sha256, got "md5"'),
])
def test_an_invalid_spec_is_a_usage_error(changes, message):
    with pytest.raises(UsageError, match=message):
        load(**changes)


def test_usage_errors_do_not_exit():
    with pytest.raises(UsageError):
        spec.parse_args(["--spec", "a", "--spec-json", "{}"])
