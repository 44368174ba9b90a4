"""The server's allow-list: which importable names a model file may reference.

A pickle (or a skops schema) names the classes and functions it needs by module and
name; loading calls them with arguments the file chooses. So every name on this list
must be harmless whatever its arguments: it builds a value and touches neither the
file system, the network, the interpreter nor the process. Anything not on the list
is refused (default deny).

Rules, in the order `AllowList.check` applies them:

1. `NEVER_MODULES` / `NEVER_NAMES`: refused whatever else says, as a guard against a
   careless addition below (a test keeps the lists disjoint).
2. `ALLOWED_NAMES` / `CONDITIONAL_NAMES`: exact `module.name` entries. Conditional ones
   are allowed as references, but the pickle scanner also checks how they are called
   (see `CONDITIONAL_NAMES`).
3. `ALLOWED_MODULE_PREFIXES` (scikit-learn), minus `EXCLUDED_MODULE_PREFIXES`: the name
   must be a plain identifier that resolves to a *class* defined in that very module
   (so a re-exported helper such as `sklearn.pipeline.Parallel`, which lives in
   `sklearn.utils`, or a module object such as `sklearn.base.inspect`, is refused);
   functions only from `ALLOWED_FUNCTION_MODULES` (pure metric and scoring functions).

Decisions worth knowing:

- `functools.partial` is conditional: HistGradientBoosting with categorical features
  stores `partial(check_array, ...)`. A partial turns any callable value into a stored
  call, so the scanner accepts one only around a named, allowed function.
- `copyreg._reconstructor` is conditional: protocols 0 and 1 rebuild every object with
  it; it only calls `object.__new__` / `base.__init__` of classes that must themselves
  be named globals on this list.
- `_codecs.encode` is conditional: protocols 0-2 store `bytes` as
  `_codecs.encode(text, "latin1")`; any other codec (or the `codecs` module) is refused.
- joblib's `NumpyArrayWrapper` is allowed; its pre-0.10 `NDArrayWrapper` /
  `ZNDArrayWrapper` are never allowed, as they read companion files named in the pickle.
- `builtins` contributes value types only; `getattr`, `eval`, `exec`, `__import__`,
  `open`, `compile`, `type` and friends are never allowed.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import lru_cache

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

_NUMPY_SCALAR_TYPES = (
    "bool", "bool_", "byte", "ubyte", "short", "ushort", "intc", "uintc", "int_", "uint",
    "long", "ulong", "longlong", "ulonglong", "intp", "uintp", "int8", "int16", "int32",
    "int64", "uint8", "uint16", "uint32", "uint64", "half", "single", "double",
    "longdouble", "float16", "float32", "float64", "csingle", "cdouble", "clongdouble",
    "complex64", "complex128", "str_", "bytes_", "void", "object_", "datetime64",
    "timedelta64", "generic", "number", "integer", "signedinteger", "unsignedinteger",
    "inexact", "floating", "complexfloating", "flexible", "character",
)  # fmt: skip

# Element-wise numpy functions a FunctionTransformer commonly holds (func=np.log1p).
_NUMPY_FUNCTIONS = (
    "log", "log1p", "log2", "log10", "exp", "exp2", "expm1", "sqrt", "cbrt", "square",
    "absolute", "negative", "reciprocal", "sign", "floor", "ceil", "rint", "trunc",
    "sin", "cos", "tan", "sinh", "cosh", "tanh", "arcsinh", "arctan", "clip", "round",
    "nan_to_num",
)  # fmt: skip

_NUMPY_RECONSTRUCTION = (
    # ndarray and numpy scalars, numpy 1.x (numpy.core) and 2.x (numpy._core) spellings
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",  # protocol 5 in-band buffers
    "numpy._core.numeric._frombuffer",
    "numpy.ndarray",
    "numpy.dtype",
)

_NUMPY_RANDOM = (
    # random states kept by fitted estimators (RandomState, Generator and bit generators)
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__generator_ctor",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random._pcg64.PCG64DXSM",
    "numpy.random._philox.Philox",
    "numpy.random._sfc64.SFC64",
    "numpy.random.bit_generator.SeedSequence",
    "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    # skops names bit generators by their public path
    "numpy.random.MT19937",
    "numpy.random.PCG64",
    "numpy.random.PCG64DXSM",
    "numpy.random.Philox",
    "numpy.random.SFC64",
)

_BUILTINS = (
    # value types only
    "dict", "list", "tuple", "set", "frozenset", "slice", "bytearray", "bytes", "complex",
    "float", "int", "str", "bool", "object", "NoneType",
)  # fmt: skip

_SCIPY_SPARSE = (
    "scipy.sparse._csr.csr_matrix",
    "scipy.sparse._csc.csc_matrix",
    "scipy.sparse._coo.coo_matrix",
    "scipy.sparse._csr.csr_array",
    "scipy.sparse._csc.csc_array",
    "scipy.sparse._coo.coo_array",
)

ALLOWED_NAMES: frozenset[str] = frozenset(
    {f"numpy.{name}" for name in _NUMPY_SCALAR_TYPES + _NUMPY_FUNCTIONS}
    | set(_NUMPY_RECONSTRUCTION)
    | set(_NUMPY_RANDOM)
    | {f"builtins.{name}" for name in _BUILTINS}
    | set(_SCIPY_SPARSE)
    | {
        "collections.OrderedDict",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        # the two scikit-learn helpers fitted models hold from the excluded sklearn.utils
        "sklearn.utils._bunch.Bunch",
        "sklearn.utils.validation.check_array",
    }
)

CONDITIONAL_NAMES: dict[str, str] = {
    "_codecs.encode": "only as _codecs.encode(<text>, 'latin1'), how protocols 0-2 store bytes",
    "functools.partial": "only around a named function that is itself on the allow-list",
    "copyreg._reconstructor": "only with named classes, how protocols 0-1 rebuild objects",
}

ALLOWED_MODULE_PREFIXES: tuple[str, ...] = ("sklearn",)

EXCLUDED_MODULE_PREFIXES: tuple[str, ...] = (
    "sklearn.utils",  # parallel helpers, testing tools, discovery by import
    "sklearn.datasets",  # download and read files
    "sklearn.externals",  # vendored third-party code
    "sklearn.callback",  # spawns a multiprocessing manager
    "sklearn.experimental",  # import-time side effects only
    "sklearn.tree._export",  # export_graphviz writes files
    # compiled index structures whose __setstate__ checks no index and that no validator
    # here covers yet (skops flags them too): a KNN model fitted with a KD or ball tree is
    # refused; brute-force neighbours are not affected
    "sklearn.neighbors._kd_tree",
    "sklearn.neighbors._ball_tree",
    "sklearn.neighbors._quad_tree",
    "sklearn.metrics._dist_metrics",
    "sklearn._config",  # set_config changes process-wide state
    "sklearn._build_utils",
    "sklearn._min_dependencies",
    "sklearn._distributor_init",
)

# Modules whose functions are pure computations over arrays (scorers, univariate tests).
ALLOWED_FUNCTION_MODULES: frozenset[str] = frozenset(
    {
        "sklearn.metrics._classification",
        "sklearn.metrics._regression",
        "sklearn.metrics._ranking",
        "sklearn.feature_selection._univariate_selection",
        "sklearn.feature_selection._mutual_info",
    }
)

NEVER_MODULES: tuple[str, ...] = (
    "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "sys", "importlib",
    "pickle", "_pickle", "pickletools", "copy_reg", "marshal", "types", "socket",
    "shutil", "runpy", "codecs", "io", "_io", "pathlib", "tempfile", "glob", "ctypes",
    "_ctypes", "cffi", "multiprocessing", "threading", "_thread", "concurrent",
    "asyncio", "signal", "pty", "select", "selectors", "ssl", "urllib", "http",
    "ftplib", "smtplib", "telnetlib", "xmlrpc", "webbrowser", "code", "codeop", "pdb",
    "bdb", "inspect", "gc", "operator", "_operator", "timeit", "trace", "profile",
    "cProfile", "doctest", "unittest", "pydoc", "logging", "zipfile", "zipimport",
    "tarfile", "gzip", "bz2", "lzma", "zlib", "pkgutil", "site", "sysconfig",
    "platform", "distutils", "setuptools", "pip", "dill", "cloudpickle",
    "joblib.numpy_pickle_compat", "joblib.parallel", "joblib.memory", "numpy.testing",
    "numpy.f2py", "numpy.distutils", "numpy.ctypeslib", "numpy.lib.format",
    "numpy.lib.npyio", "numpy.lib._npyio_impl", "sklearn.utils._testing",
    "sklearn.utils.estimator_checks", "sklearn.datasets", "sklearn.externals",
    "django", "mlgov", "registry", "tenants", "celery", "kombu",
)  # fmt: skip

NEVER_NAMES: frozenset[str] = frozenset(
    {
        f"builtins.{name}"
        for name in (
            "eval", "exec", "compile", "open", "getattr", "setattr", "delattr",
            "__import__", "__build_class__", "globals", "locals", "vars", "input",
            "breakpoint", "help", "exit", "quit", "type", "super", "memoryview",
            "classmethod", "staticmethod", "property", "print", "dir", "id", "hash",
            "iter", "next", "map", "filter", "apply", "execfile", "reload", "file",
        )
    }
    | {
        "functools.reduce", "functools.update_wrapper", "functools.wraps",
        "functools.singledispatch", "functools.cache", "functools.lru_cache",
        "copyreg.__newobj__", "copyreg.__newobj_ex__", "copyreg._reduce_ex",
        "copyreg.add_extension", "numpy.load", "numpy.save", "numpy.savez",
        "numpy.savez_compressed", "numpy.savetxt", "numpy.loadtxt", "numpy.genfromtxt",
        "numpy.fromfile", "numpy.memmap", "numpy.fromregex", "numpy.info",
        "joblib.load", "joblib.dump", "joblib.Parallel", "joblib.Memory",
        "sklearn.set_config", "sklearn.config_context", "sklearn.show_versions",
        "sklearn.tree.export_graphviz", "sklearn.tree.export_text", "sklearn.tree.plot_tree",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """Whether one referenced name may be used; `reason` says why not."""

    allowed: bool
    reason: str = ""


_ALLOWED = Verdict(True)


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


@dataclass(frozen=True)
class AllowList:
    """A policy over `(module, name)` references; see the module docstring for the rules."""

    names: frozenset[str] = ALLOWED_NAMES
    conditional: frozenset[str] = frozenset(CONDITIONAL_NAMES)
    module_prefixes: tuple[str, ...] = ALLOWED_MODULE_PREFIXES
    excluded_module_prefixes: tuple[str, ...] = EXCLUDED_MODULE_PREFIXES
    function_modules: frozenset[str] = ALLOWED_FUNCTION_MODULES
    never_modules: tuple[str, ...] = NEVER_MODULES
    never_names: frozenset[str] = NEVER_NAMES

    def check(self, module: str, name: str) -> Verdict:
        """The verdict on `module.name` as a pickle GLOBAL or a skops type names it."""
        if not isinstance(module, str) or not isinstance(name, str):
            return Verdict(False, "module and name must be strings")
        qualified = f"{module}.{name}"
        if _under(module, self.never_modules) or qualified in self.never_names:
            return Verdict(False, "explicitly denied: it can run code or touch the system")
        if qualified in self.names or qualified in self.conditional:
            return _ALLOWED
        if not _under(module, self.module_prefixes):
            return Verdict(False, "not on the allow-list")
        return self._check_by_prefix(module, name)

    def check_qualified(self, qualified: str) -> Verdict:
        """The verdict on a dotted `module.name` (how skops reports types)."""
        module, _, name = qualified.rpartition(".")
        if not module:
            return Verdict(False, "not a qualified name")
        return self.check(module, name)

    def is_conditional(self, module: str, name: str) -> bool:
        """True when the scanner must also check how this name is called."""
        return f"{module}.{name}" in self.conditional

    def _check_by_prefix(self, module: str, name: str) -> Verdict:
        if not _MODULE.fullmatch(module) or not _IDENTIFIER.fullmatch(name):
            return Verdict(False, "not a plain module and identifier")
        if name.startswith("__"):
            return Verdict(False, "dunder names are never allowed")
        parts = module.split(".")
        if any(part in ("tests", "conftest") or part.startswith("__") for part in parts):
            return Verdict(False, "test and private bootstrap modules are not allowed")
        if _under(module, self.excluded_module_prefixes):
            return Verdict(False, "in a module excluded from the scikit-learn allow-list")
        kind = _defined_kind(module, name)
        if kind == "class":
            return _ALLOWED
        if kind == "function" and module in self.function_modules:
            return _ALLOWED
        if kind == "function":
            return Verdict(False, "a function outside the allowed scikit-learn function modules")
        if kind == "missing":
            return Verdict(False, "does not exist in the installed scikit-learn")
        return Verdict(False, "not a class defined in that module (re-export or module object)")


@lru_cache(maxsize=4096)
def _defined_kind(module: str, name: str) -> str:
    """'class' or 'function' when `module.name` is defined right there; else why not.

    Only called for names already inside the allowed, non-excluded scikit-learn modules,
    so importing the module runs installed scikit-learn code, as loading would.
    """
    try:
        obj = getattr(importlib.import_module(module), name)
    except Exception:  # noqa: BLE001 - any failure to resolve means "refuse"
        return "missing"
    if getattr(obj, "__module__", None) != module or getattr(obj, "__qualname__", None) != name:
        return "foreign"
    if isinstance(obj, type):
        return "class"
    if callable(obj):
        return "function"
    return "other"


DEFAULT_ALLOWLIST = AllowList()


def check_reference(module: str, name: str) -> Verdict:
    """The default allow-list's verdict on `module.name`."""
    return DEFAULT_ALLOWLIST.check(module, name)
