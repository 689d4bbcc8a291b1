"""Run many CLI cases in one Python process (imports paid once): each case's ``main`` under
:func:`m3lrn_lib.cli.run_main`, in its own folder, with stdout/stderr captured. Used by the
hostile-input tests of several command lines."""
import json
import os
import subprocess
import sys

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}

HARNESS = r"""
import contextlib, importlib, io, json, os, sys, traceback
from m3lrn_lib.cli import run_main
results = {}
for case in json.loads(sys.argv[1]):
    main = importlib.import_module(case["module"] + ".__main__").main
    err, out = io.StringIO(), io.StringIO()
    os.chdir(case["cwd"])
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = run_main(main, case["argv"])
        except BaseException:
            traceback.print_exc(file=err)
            rc = "raised"
    results[case["id"]] = {"rc": rc, "stderr": err.getvalue(), "stdout": out.getvalue()}
print(json.dumps(results))
"""


def run_batch(cases: list[dict], tmp) -> dict:
    """Run ``cases`` ({id, module, argv, cwd}) in one subprocess; {id: {rc, stderr, stdout}}."""
    r = subprocess.run([sys.executable, "-c", HARNESS, json.dumps(cases)], cwd=tmp, env=ENV, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])
