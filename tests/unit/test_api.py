"""The public API: __all__ is complete and every name in it exists."""

import importlib
import pkgutil

import labcore


def test_every_exported_name_exists():
    for name in labcore.__all__:
        assert hasattr(labcore, name), name


def test_every_module_declares_all_and_its_names_exist():
    for info in pkgutil.walk_packages(labcore.__path__, "labcore."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        if info.name in ("labcore.cli", "labcore.ipython", "labcore.teach.jupyter"):
            continue  # entry points, not API
        assert hasattr(module, "__all__"), f"{info.name} has no __all__"
        for name in module.__all__:
            assert hasattr(module, name), f"{info.name}.{name}"


def test_top_level_exports_every_public_module():
    modules = {info.name for info in pkgutil.iter_modules(labcore.__path__)}
    api_modules = modules - {"cli", "ipython", "__main__"}
    for name in api_modules:
        assert name in labcore.__all__, f"labcore.{name} missing from __all__"
