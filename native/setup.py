"""Build of aiconexus-native: the cffi extension is declared here (cffi_modules)."""

from setuptools import setup

setup(cffi_modules=["aiconexus_native/_build.py:ffibuilder"])
