"""Hostile or broken YAML is refused with one clear line, wherever digitlib reads YAML."""

import resource
import subprocess
import sys

import pytest

from digitlib.yamlfile import InvalidYaml, YamlInputError, load_yaml_file, load_yaml_text


def billion_laughs(levels: int = 9) -> str:
    """Half a kilobyte of flow YAML whose last list holds 10**levels strings once aliases expand."""
    lists = ["&l0 [" + ", ".join(['"lol"'] * 10) + "]"]
    lists += [f"&l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]" for level in range(1, levels)]
    return "[" + ", ".join(lists) + "]"


def _limit_memory():
    gigabyte = 1024 ** 3  # the command needs under half of it; an expanding bomb fails fast instead of
    resource.setrlimit(resource.RLIMIT_AS, (gigabyte, gigabyte))  # eating the machine


def digitlib_cli_guarded(*arguments, cwd):
    """The `digitlib` command line with 1 GiB of memory and 20 seconds at most."""
    return subprocess.run([sys.executable, "-m", "digitlib", *map(str, arguments)], cwd=cwd,
                          capture_output=True, text=True, timeout=20, preexec_fn=_limit_memory)


ALIASES = "anchors and aliases (&, *) are not supported in"


@pytest.mark.parametrize("entry", ["sweep value", "sweep name", "--params-file", "-p value"])
def test_an_alias_bomb_is_refused_before_it_expands(tmp_path, entry):
    bomb = billion_laughs()
    if entry == "sweep value":
        (tmp_path / "bomb.yaml").write_text(f"runs:\n  - model: fast\n    data_dir: {bomb}\n")
        result = digitlib_cli_guarded("sweep", "bomb.yaml", cwd=tmp_path)
        where = "bomb.yaml:3"
    elif entry == "sweep name":
        (tmp_path / "bomb.yaml").write_text(f"name: {bomb}\nruns:\n  - model: fast\n")
        result = digitlib_cli_guarded("sweep", "bomb.yaml", cwd=tmp_path)
        where = "bomb.yaml:1"
    elif entry == "--params-file":
        (tmp_path / "bomb.yaml").write_text(f"train_limit: 100\nepochs: {bomb}\n")
        result = digitlib_cli_guarded("report", "--params-file", "bomb.yaml", cwd=tmp_path)
        where = "bomb.yaml:2"
    else:
        result = digitlib_cli_guarded("report", "-p", "epochs", bomb, cwd=tmp_path)
        where = "<-p value>:1"
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr == f"digitlib: error: {ALIASES} {where}; write each value out in full\n"
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("text", ["a: &x 1\n", "a: 1\nb: *x\n", "- &x [1]\n- *x\n", "<<: *x\n"])
def test_any_anchor_or_alias_is_refused_with_its_line(text):
    with pytest.raises(YamlInputError, match=r"anchors and aliases \(&, \*\) are not supported in f.yaml:\d"):
        load_yaml_text(text, "f.yaml")


def test_plain_yaml_still_loads():
    assert load_yaml_text("a: [1, 2.5, null, text]\nb: {c: '&*'}\n", "f.yaml") == {
        "a": [1, 2.5, None, "text"], "b": {"c": "&*"}}
    assert load_yaml_text("", "f.yaml") is None
    with pytest.raises(InvalidYaml, match="f.yaml is not valid YAML"):
        load_yaml_text("a: [", "f.yaml")


def test_deep_nesting_is_refused_not_a_recursion_error():
    with pytest.raises(YamlInputError, match=r"f.yaml:1 nests collections more than 50 deep"):
        load_yaml_text("[" * 100_000 + "]" * 100_000, "f.yaml")


def test_a_file_over_one_megabyte_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("epochs: 1\n" + "# padding\n" * 110_000)
    with pytest.raises(YamlInputError, match=r"big.yaml is larger than 1 MB; a sweep file is a few lines"):
        load_yaml_file(path, "sweep file")


def test_the_cli_refuses_a_huge_sweep_file(tmp_path):
    (tmp_path / "big.yaml").write_text("runs:\n  - {model: fast}\n" + "# padding\n" * 110_000)
    result = digitlib_cli_guarded("sweep", "big.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "digitlib: error: big.yaml is larger than 1 MB" in result.stderr
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("command", [["sweep", "latin1.yaml"], ["report", "--params-file", "latin1.yaml"]])
def test_a_file_that_is_not_utf8_is_one_clear_line(tmp_path, command):
    (tmp_path / "latin1.yaml").write_bytes("runs:\n  # réglages\n  - {model: fast}\n".encode("latin-1"))
    result = digitlib_cli_guarded(*command, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr == ("digitlib: error: latin1.yaml:2 is not UTF-8 text (byte 0xe9); "
                             "save the file as UTF-8\n")
    assert not (tmp_path / "reports").exists()


def test_a_key_given_twice_is_refused_at_any_depth(tmp_path):
    from digitlib.params import ParameterError, load_parameters_file, parse_value

    path = tmp_path / "p.yaml"
    path.write_text("epochs: 2\ntrain_limit: 100\nepochs: 3\n")
    with pytest.raises(ParameterError, match=r"duplicate key 'epochs' at \S*p.yaml:3; give each key once"):
        load_parameters_file(str(path))
    with pytest.raises(YamlInputError, match=r"duplicate key 1 at f.yaml:4"):
        load_yaml_text("a:\n  - b:\n      1: x\n      0x1: y\n", "f.yaml")
    with pytest.raises(ParameterError, match=r"duplicate key 'a' at <-p value>:1"):
        parse_value("{a: 1, a: 2}")
    assert load_yaml_text("a: {x: 1}\nb: {x: 2}\n", "f.yaml") == {"a": {"x": 1}, "b": {"x": 2}}


@pytest.mark.parametrize("text, line", [
    ("runs:\n  - {model: fast, <<: {model: seed}}\n", 2), ("<<: {a: 1}\nb: 2\n", 1), ("a:\n  b: 1\n  <<: {b: 2}\n", 3)])
def test_a_merge_key_is_refused_not_a_way_past_the_duplicate_rule(text, line):
    with pytest.raises(YamlInputError, match=rf"^merge keys \(<<\) are not supported in f.yaml:{line}; write each "
                                             "key out in full$"):
        load_yaml_text(text, "f.yaml")
    assert load_yaml_text("'<<': 1\n", "f.yaml") == {"<<": 1}  # quoted, it is text like any other key


@pytest.mark.parametrize("text", ["a: !!str 1\n", "a: !!binary aGk=\n", "a: !!set {x, y}\n", "a: !!omap [x: 1]\n",
                                  "a: !!python/object/apply:os.system [true]\n", "a: !local x\n", "a: ! x\n",
                                  "a: !!map {x: 1}\n", "a: [!!int '5']\n"])
def test_any_explicit_tag_is_refused_with_its_line(text):
    with pytest.raises(YamlInputError, match=r"^tags \(!, !!\) are not supported in f.yaml:1; write the plain "
                                             r"value \(quoted, if it is text starting with '!'\)$"):
        load_yaml_text(text, "f.yaml")
    assert load_yaml_text("a: '!!str 1'\n", "f.yaml") == {"a": "!!str 1"}


@pytest.mark.parametrize("text, message", [
    ("a: 2026-02-30\n", r"f.yaml:1: '2026-02-30' is not a valid timestamp \(day is out of range for month\); quote it "
                        "to keep it as text$"),
    ("a:\n  - 1" + "0" * 5000 + "\n", r"f.yaml:2: '10+\.\.\.0+' is not a valid int \(Exceeds the limit"),
])
def test_a_value_python_cannot_build_is_one_line_with_its_line(text, message):
    with pytest.raises(YamlInputError, match=message) as refused:
        load_yaml_text(text, "f.yaml")
    assert "\n" not in str(refused.value) and not isinstance(refused.value, InvalidYaml)


def test_a_control_character_or_a_syntax_error_is_one_line(tmp_path):
    """PyYAML's reader refused a control character while the loader was built, outside the error handling (a
    traceback); its syntax errors quote the file's lines and a caret: four lines."""
    with pytest.raises(InvalidYaml) as control:
        load_yaml_text("epochs: 1\x01\n", "f.yaml")
    assert "\n" not in str(control.value) and "unacceptable character #x0001" in str(control.value)
    (tmp_path / "bad.yaml").write_text("epochs: [\n")
    with pytest.raises(InvalidYaml) as syntax:
        load_yaml_file(tmp_path / "bad.yaml", "parameters file")
    assert "\n" not in str(syntax.value)
    assert str(syntax.value).startswith(f"{tmp_path / 'bad.yaml'} is not valid YAML: ") and "(line 2, column 1)" in str(
        syntax.value)



def test_a_fifo_nothing_writes_to_is_refused_at_once_and_a_slow_pipe_is_waited_for(tmp_path):
    """A named FIFO without a writer would block the command forever: it is refused in one line; a pipe whose
    writer is still at work (a sweep's /dev/stdin) is read once it has written."""
    import os
    import threading
    import time

    fifo = tmp_path / "params.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(YamlInputError, match=r"^nothing to read from .*params\.fifo: a pipe or FIFO that nothing "):
        load_yaml_file(fifo, "parameters file")
    assert time.monotonic() - started < 5
    reader, writer = os.pipe()

    def write_late():
        time.sleep(0.3)
        os.write(writer, b"epochs: 2\n")
        os.close(writer)

    threading.Thread(target=write_late).start()
    try:
        assert load_yaml_file(f"/dev/fd/{reader}", "parameters file").data == {"epochs": 2}
    finally:
        os.close(reader)
