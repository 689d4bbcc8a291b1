"""``python -m m3lrn_lib.nn [preset] [depth]``: print the parameter table of a preset."""
import sys

from ..morphable import load_face_model
from .counts import parameter_table
from .model import M3LRN

net = M3LRN(load_face_model(), sys.argv[1] if len(sys.argv) > 1 else "full")
print(parameter_table(net, depth=int(sys.argv[2]) if len(sys.argv) > 2 else 1))
