"""The compiled kernels' marker (``compile-kernels``): numba's version and the kernels
compiled or loaded into its cache. The engine's jobs wait for it (a rule input); nothing
reads its fields, so that it is the same file on every run and machine."""

from typing import TypedDict

from hlmrep.records import RecordKind


class KernelsMarker(TypedDict):
    numba: str
    kernels: list[str]


KERNELS = RecordKind(KernelsMarker, "kernels marker", "compile-kernels", final_newline=True)
