"""Read a JSON list of Python sources on stdin; print, as JSON, what CPython's compile() says of
each: null when it compiles, else {"line": lineno, "message": msg}. Used by syntax.spec.ts."""
import json
import sys
import warnings


def report(source):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "<cell>", "exec")
    except SyntaxError as error:
        return {"line": error.lineno, "message": error.msg}
    return None


def main():
    sources = json.load(sys.stdin)
    json.dump([report(source) for source in sources], sys.stdout)


if __name__ == "__main__":
    main()
