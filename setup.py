"""Setuptools hook: generate the protobuf stubs before packages are collected.

Everything else lives in pyproject.toml. The hook makes ``pip install .``
produce the same ``colonnade.<domain>.v<N>`` modules that ``make gen`` does.
"""

import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info


def _generate() -> None:
    runpy.run_path(str(Path(__file__).parent / "scripts" / "gen.py"))["generate"]()


class BuildPyWithProtos(build_py):
    def run(self) -> None:
        _generate()
        super().run()


class EggInfoWithProtos(egg_info):
    def run(self) -> None:
        _generate()
        super().run()


setup(cmdclass={"build_py": BuildPyWithProtos, "egg_info": EggInfoWithProtos})
