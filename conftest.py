"""Settings for every test and doctest: planner constants fixed, not measured.

The planner calibrates its speed constants on first use (cached per machine);
tests use the built-in ones so a plan never depends on the machine's load.
"""

import os

os.environ["KRONOP_CALIBRATION"] = "off"
