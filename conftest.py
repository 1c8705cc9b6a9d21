"""Settings for every test and doctest: planner constants fixed, not measured.

The planner calibrates its speed constants on first use (cached per machine);
tests use the built-in ones so a plan never depends on the machine's load.
"""

import os

os.environ["KRONOP_CALIBRATION"] = "off"


# the dask backend's modules import dask: their doctests need the dask extra
try:
    import dask.array  # noqa: F401
except ImportError:
    collect_ignore = [
        "kronop/dask.py",
        "kronop/_dask_krylov.py",
        "kronop/_engine/dask_kernels.py",
    ]
