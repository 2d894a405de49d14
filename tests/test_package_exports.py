"""Every package's public surface imports: each name in each ``motion4d`` package's ``__all__``."""
import importlib
import pkgutil

import pytest

import motion4d


def _packages():
    names = ["motion4d"]
    for info in pkgutil.walk_packages(motion4d.__path__, "motion4d."):
        if info.ispkg:
            names.append(info.name)
    return names


PACKAGES = _packages()


def test_every_package_is_found():
    assert {"motion4d.lift", "motion4d.lift.stages", "motion4d.evaluation", "motion4d.metrics", "motion4d.render",
            "motion4d.gaussians", "motion4d.guidance", "motion4d.video", "motion4d.world", "motion4d.utils"} \
        <= set(PACKAGES)


@pytest.mark.parametrize("name", PACKAGES)
def test_every_name_in_all_imports(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names {missing} that do not import"
    namespace: dict = {}
    exec(f"from {name} import *", namespace)  # noqa: S102 - the star import itself must work
    assert set(exported) <= set(namespace)
