"""Every public callable has a runnable Examples section (the doctests run them)."""

import importlib
import inspect

import pytest

import kronop


def _public():
    modules = [("kronop", kronop)]
    try:
        dask_module = importlib.import_module("kronop.dask")
    except ImportError:  # the dask extra is not installed
        dask_module = None
    if dask_module is not None:
        modules.append(("kronop.dask", dask_module))
    for modname, mod in modules:
        for name in mod.__all__:
            obj = getattr(mod, name)
            if not callable(obj):
                continue
            yield f"{modname}.{name}", obj
            if inspect.isclass(obj):
                for member_name, member in vars(obj).items():
                    if member_name.startswith("_"):
                        continue
                    target = member.fget if isinstance(member, property) else member
                    if callable(target):
                        yield f"{modname}.{name}.{member_name}", target


@pytest.mark.parametrize(("name", "obj"), list(_public()))
def test_has_examples(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert "Examples" in doc, f"{name} has no Examples section"
