"""What CPython's compile() says of Python sources, for syntax.spec.ts.

Default: read a JSON list of sources on stdin; print a JSON list with, for each, null when it
compiles, else {"line": lineno, "message": msg}.

``--mutations N``: make N broken cells from the standard library of this Python, the same ones
every time: 15-line pieces of its modules (every 97th line starts one, files in path order),
each with one bracket, quote, colon or comma deleted (chosen by a seeded random generator).
Print a JSON list of {"source", "report"}.
"""
import argparse
import json
import os
import random
import re
import sys
import sysconfig
import warnings


def report(source):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "<cell>", "exec")
    except SyntaxError as error:
        return {"line": error.lineno, "message": error.msg}
    return None


def stdlib_pieces(count):
    root = sysconfig.get_paths()["stdlib"]
    paths = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in ("site-packages", "dist-packages", "__pycache__"))
        paths.extend(os.path.join(directory, f) for f in files if f.endswith(".py"))
    pieces = []
    for path in sorted(paths):
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except (UnicodeDecodeError, OSError):
            continue
        for start in range(0, len(lines) - 15, 97):
            pieces.append("\n".join(lines[start : start + 15]))
            if len(pieces) == count:
                return pieces
    return pieces


def mutations(count):
    rng = random.Random(13)
    out = []
    for piece in stdlib_pieces(count):
        spots = [m.start() for m in re.finditer(r"[():\[\]{}'\",]", piece)]
        if not spots:
            continue
        at = spots[rng.randrange(len(spots))]
        source = piece[:at] + piece[at + 1 :]
        out.append({"source": source, "report": report(source)})
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mutations", type=int, default=0)
    args = parser.parse_args()
    if args.mutations:
        json.dump(mutations(args.mutations), sys.stdout)
    else:
        json.dump([report(source) for source in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
