"""Documented fidelity patches to moto 5.2.1, loaded only by the launcher (moto_launcher.py).

Each module in patches/ defines `apply()` and a docstring citing the AWS documentation of the
behaviour it restores; each has its own test (test/local-aws/fidelity-*.test.ts). Nothing else about
moto is changed.
"""
import importlib
import os
import pkgutil


def apply() -> list:
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "patches")
    names = []
    for mod in sorted(m.name for m in pkgutil.iter_modules([here])):
        module = importlib.import_module(f"patches.{mod}")
        module.apply()
        names.append(mod)
    return names
