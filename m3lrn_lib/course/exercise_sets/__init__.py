"""Exercise checkers, one module per notebook (``nb01.py`` ...); see :mod:`m3lrn_lib.course.exercises`."""
