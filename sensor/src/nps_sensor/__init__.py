"""nps-sensor: the passive network sensor's engine, service and command line."""

import os

__version__ = "0.1.0"

# numpy's OpenBLAS starts a thread per core when numpy is imported, which then spin
# for CPU time in every process (and every capture worker); the sensor does no linear
# algebra. Set before anything of the sensor imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
