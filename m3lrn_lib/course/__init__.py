"""The teaching harness around the science code: everything that exists because the library is a course.

- :mod:`.map` -- the course map of ``notebooks/00_start_here.ipynb``: the notebooks in order, the
  paper's equations each introduces, run times, and the real models / data sets.
- :mod:`.exercises` -- ``check("01.1", answer)`` and the teacher's copies
  (``python -m m3lrn_lib.course.exercises teacher|list``); the checkers of each notebook are in
  :mod:`.exercise_sets` (one module per notebook).
- :mod:`.suite` -- executes every notebook headlessly and exports it to HTML
  (``python -m m3lrn_lib.course.suite run``).
- :mod:`.labcheck` -- notebook 01 in JupyterLab in headless Chromium
  (``python -m m3lrn_lib.course.labcheck``).
- :mod:`.lessons` -- the longer code cells of notebooks 03 and 04 (``lessons.nb03``, ``lessons.nb04``).

Nothing here is imported by the science packages; the submodules are imported on demand.
"""
