"""Check the built sdist and wheel: LICENSE and py.typed inside, nothing stray."""

import glob
import sys
import tarfile
import zipfile

wheel = glob.glob("dist/*.whl")
sdist = glob.glob("dist/*.tar.gz")
if len(wheel) != 1 or len(sdist) != 1:
    sys.exit(f"expected one wheel and one sdist in dist/, got {wheel + sdist}")
in_wheel = zipfile.ZipFile(wheel[0]).namelist()
in_sdist = tarfile.open(sdist[0]).getnames()
problems = []
for name, files in (("wheel", in_wheel), ("sdist", in_sdist)):
    for want in ("LICENSE", "kronop/py.typed", "kronop/__init__.py"):
        if not any(f.endswith(want) for f in files):
            problems.append(f"{name} lacks {want}")
if any(f.startswith("tests/") for f in in_wheel):
    problems.append("the wheel ships the tests")
if problems:
    sys.exit("; ".join(problems))
print(f"dist ok: {wheel[0]} ({len(in_wheel)} files), {sdist[0]} ({len(in_sdist)} files)")
