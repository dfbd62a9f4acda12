"""The command line and the step spec (see src/core/stepspec.ts), and pipeline parameters."""

import argparse
import json
import re

from .errors import UsageError
from .files import DIGESTS

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PARAM_TYPES = ("int", "float", "str", "bool")


# Command line and spec


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_args(argv):
    parser = _ArgumentParser(prog="chard_runtime.py", add_help=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", help="step spec JSON file")
    source.add_argument("--spec-json", help="step spec as a JSON string")
    parser.add_argument("--data-dir")
    parser.add_argument("--workdir")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--output", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--metrics-file")
    # Cluster steps: what the step showed also goes to its log, one line, for Chard to read back
    # (the data volume, where _outputs.json is, is not reachable from the notebook's server).
    parser.add_argument("--outputs-to-log", action="store_true")
    return parser.parse_args(argv)


def _pairs(items, option):
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError("%s expects NAME=VALUE, got %s" % (option, json.dumps(item)))
        result[name] = value
    return result


def _require(cond, message):
    if not cond:
        raise UsageError("invalid step spec: " + message)


def _check_ident(name, what):
    _require(isinstance(name, str) and IDENT.match(name) is not None,
             "%s must be a Python identifier, got %s" % (what, json.dumps(name)))


def load_spec(args):
    if args.spec is not None:
        try:
            with open(args.spec, "r", encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise UsageError("cannot read spec file %s: %s" % (args.spec, e.strerror or e))
    else:
        text = args.spec_json
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise UsageError("step spec is not valid JSON: %s" % e)
    _require(isinstance(spec, dict), "expected a JSON object")
    _require(spec.get("version") == 1, "unsupported version %s" % json.dumps(spec.get("version")))
    for key in ("pipeline", "step", "stepId", "dataDir", "workdir"):
        _require(isinstance(spec.get(key), str), "%s must be a string" % key)
    _require(DNS_LABEL.match(spec["stepId"]) is not None, "stepId must be a DNS-1123 label")
    code = spec.get("code")
    _require(isinstance(code, list), "code must be a list")
    for block in code:
        _require(isinstance(block, dict) and isinstance(block.get("source"), str)
                 and isinstance(block.get("cell"), int) and not isinstance(block.get("cell"), bool)
                 and block["cell"] >= 0, "each code block needs a cell index and a source string")
    params = spec.get("parameters")
    _require(isinstance(params, dict), "parameters must be an object")
    for name, p in params.items():
        _check_ident(name, "parameter name")
        _require(isinstance(p, dict) and p.get("type") in PARAM_TYPES,
                 "parameter %s needs a type among %s" % (name, ", ".join(PARAM_TYPES)))
        _require(_type_ok(p["type"], p.get("value")),
                 "parameter %s: default %s is not a %s" % (
                     name, json.dumps(p.get("value")), p["type"]))
    inputs = spec.get("inputs")
    _require(isinstance(inputs, list), "inputs must be a list")
    for i in inputs:
        _require(isinstance(i, dict), "each input must be an object")
        _check_ident(i.get("name"), "input name")
        _require(isinstance(i.get("from"), str), "input %s needs a producer step" % i["name"])
        _require(isinstance(i.get("fromId"), str) and DNS_LABEL.match(i["fromId"]) is not None,
                 "input %s: fromId must be a DNS-1123 label" % i["name"])
    for key in ("outputs", "metrics"):
        _require(isinstance(spec.get(key), list), "%s must be a list" % key)
        for name in spec[key]:
            _check_ident(name, key[:-1] + " name")
    digest = spec.get("valueDigest", "crc32")
    _require(isinstance(digest, str) and digest in DIGESTS,
             "valueDigest must be one of %s, got %s" % (
                 ", ".join(sorted(DIGESTS)), json.dumps(spec.get("valueDigest"))))
    return spec


def _type_ok(ptype, value):
    if ptype == "bool":
        return isinstance(value, bool)
    if ptype == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if ptype == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def parse_param(name, ptype, text):
    try:
        if ptype == "int":
            return int(text.strip(), 10)
        if ptype == "float":
            return float(text.strip())
        if ptype == "bool":
            word = text.strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise ValueError(text)
        return text
    except ValueError:
        raise UsageError("parameter %s expects %s %s, got %s" % (
            name, "an" if ptype == "int" else "a", ptype, json.dumps(text)))


def resolve_parameters(spec, overrides):
    values = {}
    for name, p in spec["parameters"].items():
        value = p["value"]
        if p["type"] == "float":
            value = float(value)
        if name in overrides:
            value = parse_param(name, p["type"], overrides[name])
        values[name] = value
    return values
