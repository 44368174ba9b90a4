"""Loading pickle and joblib bytes that already passed the static scan.

Defence in depth: the unpicklers used here resolve names through the same allow-list,
so a name the scanner somehow missed still fails to load instead of running. They are
pickle's pure-Python unpickler (what joblib itself uses), whose name mapping and
framing the scanner mirrors, and they read the exact bytes that were scanned.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import sys
from typing import Any

from joblib.numpy_pickle import NumpyUnpickler

from registry.model_files.allowlist import DEFAULT_ALLOWLIST, AllowList
from registry.model_files.errors import ModelFileRefused


class _AllowListFindClass:
    """`find_class` that maps Python 2 names as pickle does, then asks the allow-list."""

    allowlist: AllowList = DEFAULT_ALLOWLIST
    proto: int

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        verdict = self.allowlist.check(module, name)
        if not verdict.allowed:
            raise ModelFileRefused(f"{module}.{name}: {verdict.reason}")
        __import__(module, level=0)
        target: Any = sys.modules[module]
        for part in name.split("."):  # dotted names only ever come from the exact list
            target = getattr(target, part)
        return target


class _CheckedUnpickler(_AllowListFindClass, pickle._Unpickler):  # type: ignore[name-defined]
    pass


class _CheckedJoblibUnpickler(_AllowListFindClass, NumpyUnpickler):
    pass


def load_pickle_bytes(data: bytes, *, allowlist: AllowList = DEFAULT_ALLOWLIST) -> Any:
    """Unpickle `data`; call only after `scan_pickle(data)` allowed it."""
    unpickler = _CheckedUnpickler(io.BytesIO(data))
    unpickler.allowlist = allowlist
    return unpickler.load()


def load_joblib_bytes(data: bytes, *, allowlist: AllowList = DEFAULT_ALLOWLIST) -> Any:
    """Load a decompressed joblib stream; call only after `scan_joblib_stream(data)`."""
    unpickler = _CheckedJoblibUnpickler("", io.BytesIO(data), ensure_native_byte_order=True)
    unpickler.allowlist = allowlist
    return unpickler.load()
