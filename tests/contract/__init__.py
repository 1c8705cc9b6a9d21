"""Contract suites every kronop operator inherits.

A test class subclasses a contract, names its ``cases``, writes ``build`` (the
operator and an independent dense oracle) and declares what the operator ``offers``:
capability flags such as ``"solve"`` or ``"svd"``. Contract tests marked with
:func:`needs` for a capability the class does not offer are removed from the class
(not skipped), so a new operator's test class is a handful of lines.
"""

from __future__ import annotations

import numpy as np
import pytest

__all__ = ["Contract", "needs"]


def needs(*capabilities: str):
    """Mark a contract test as needing these capabilities of the operator."""

    def mark(fn):
        fn.needs = frozenset(capabilities)
        return fn

    return mark


class Contract:
    """Base of the contracts: parametrization by case, capability filtering."""

    #: names of the variants to test (parametrizes every test)
    cases: tuple[str, ...] = ()
    #: capabilities of the operator; tests that need others are removed
    offers: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.cases:  # a contract itself, not a concrete test class
            return
        for name in dir(cls):
            if not name.startswith("test_"):
                continue
            fn = getattr(cls, name)
            missing = getattr(fn, "needs", frozenset()) - frozenset(cls.offers)
            if missing:
                setattr(cls, name, None)

    def pytest_generate_tests(self, metafunc):
        if "case" in metafunc.fixturenames:
            metafunc.parametrize("case", self.cases)

    @pytest.fixture
    def rng(self):
        return np.random.default_rng(1234)
