"""IPython syntax without IPython: the runtime's own line transform keeps lines in place."""

from chard_runtime import shell


def test_the_fallback_transform_escapes_commands_and_magics_on_their_lines():
    sh = shell.Shell({})
    source = "x = 1\n!echo hi\nfiles = !ls\n%time y = 2\ntext = '''\n!not a command\n'''\n"
    out = shell._fallback_transform(source, sh)
    lines = out.splitlines()
    assert lines[0] == "x = 1"
    assert lines[1] == "get_ipython()._chard_escape(0)"
    assert lines[2] == "files = get_ipython()._chard_escape(1)"
    assert lines[3] == "get_ipython()._chard_escape(2)"
    assert lines[5] == "!not a command"  # inside a string: left alone
    assert sh.escapes == [("system", "echo hi", None), ("getoutput", "ls", None),
                          ("line_magic", "time", "y = 2")]


def test_a_cell_magic_takes_the_whole_cell():
    sh = shell.Shell({})
    out = shell._fallback_transform("%%bash\necho a\necho b\n", sh)
    assert out.splitlines()[0] == "get_ipython()._chard_cell_magic(0)"
    assert sh.escapes == [("bash", "", "echo a\necho b\n")]


def test_python_is_left_as_it_is():
    source = "def f(x):\n    return x % 2\n"
    assert shell.transform_cell(source, shell.Shell({})) == source


def test_getoutput_returns_lines_with_ipython_views():
    sh = shell.Shell({})
    lines = sh.getoutput("printf 'a\\nb\\n'")
    assert list(lines) == ["a", "b"] and lines.s == "a b" and lines.n == "a\nb"
    assert sh.user_ns["_exit_code"] == 0
