"""Repository-wide pytest hook: every notebook that nbval executes is also exported.

nbval runs each notebook's cells in a kernel but keeps the outputs only in memory. After the
last cell of a notebook this hook writes the executed copy and a static HTML version to
``build/nbval/notebooks/`` and ``build/nbval/html/`` with :func:`m3lrn_lib.course.suite.export`,
which also checks that the HTML carries plotly.js and the data of every Plotly figure (a
notebook whose figures would not stay interactive fails here). Unit tests are unaffected.
"""
from pathlib import Path

import pytest

EXPORT_DIR = Path(__file__).resolve().parent / "build" / "nbval"
_KEEP = ("execute_result", "display_data", "stream", "error")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    nb = getattr(item.parent, "nb", None)
    if nb is None or not hasattr(item, "test_outputs"):
        return  # not an nbval cell
    item.cell["_m3lrn_outputs"] = [o for o in (item.test_outputs or []) if o.get("output_type") in _KEEP]
    if nextitem is not None and nextitem.parent is item.parent:
        return
    import copy

    from m3lrn_lib.course.suite import export
    done = copy.deepcopy(nb)
    for cell in done.cells:
        if cell.cell_type == "code":
            cell.outputs = cell.pop("_m3lrn_outputs", [])
            cell.execution_count = None
    src = Path(str(item.parent.fspath))
    sub = "teacher" if src.parent.name == "teacher" else "suite"
    export(done, src.stem, EXPORT_DIR / sub)
