"""pytest in docs/: only the reST pages are tests (``--doctest-glob="*.rst"``).

The Sphinx configuration, the gallery's copies of the examples and the build output
are not test modules.
"""

collect_ignore = ["conf.py"]
collect_ignore_glob = [
    "_build/*",
    "_gallery_src/*",
    "auto_examples/*",
    "api/generated/*",
]
