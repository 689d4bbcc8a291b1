"""Hostile command lines of the course tools: exercises, suite, labcheck (one line, exit 2)."""
import socket

import pytest

from m3lrn_lib import cli
from m3lrn_lib.course import exercises, labcheck, suite

CASES = {
    "exercises: no command": (exercises.main, [], "cmd"),
    "exercises: unknown command": (exercises.main, ["bogus"], "invalid choice: 'bogus'"),
    "exercises: unknown option": (exercises.main, ["list", "--x"], "unrecognized arguments: --x"),
    "suite: unknown command": (suite.main, ["walk"], "invalid choice: 'walk'"),
    "suite: nothing matches": (suite.main, ["run", "--only", "99_none"], "--only 99_none"),
    "labcheck: bad port": (labcheck.main, ["--port", "http"], "--port"),
    "labcheck: port out of range": (labcheck.main, ["--port", "70000"], "--port"),
    "labcheck: bad timeout": (labcheck.main, ["--timeout", "0"], "--timeout"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_argument_one_line_exit_2(case, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main, argv, needle = CASES[case]
    rc = cli.run_main(main, argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err
    assert list(tmp_path.iterdir()) == []


def test_labcheck_missing_chromium_is_a_user_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("M3LRN_CHROMIUM", str(tmp_path / "no-chrome"))
    rc = cli.run_main(labcheck.main, ["--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "M3LRN_CHROMIUM" in err and "Traceback" not in err


def test_labcheck_taken_port_is_a_user_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(labcheck.LabSetupError, match=f"port {port}"):
            labcheck.check_port(port)
    assert issubclass(labcheck.LabSetupError, labcheck.LabCheckError)


def test_exercises_list_works(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.run_main(exercises.main, ["list"]) == 0
    assert "hint:" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
