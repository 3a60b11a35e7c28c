"""Documented fidelity patches to moto 5.2.1, loaded only by the harness's launcher.

Each patch makes moto behave as AWS documents, cites the documentation, and has its own test
(test/harness/fidelity.test.ts). Nothing else about moto is changed.
"""

PATCHES = []


def apply() -> list:
    names = []
    for patch in PATCHES:
        patch()
        names.append(patch.__name__)
    return names
