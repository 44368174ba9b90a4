"""Static scan of pickle and joblib streams: which names would loading call, and are they
all on the allow-list? Nothing is ever unpickled here.

The scanner walks the opcodes with `pickletools.genops` and mirrors the unpickler's stack,
memo and mark stack symbolically, so that every name a load would resolve is seen: plain
GLOBAL / INST, and STACK_GLOBAL whose module and name strings come from anywhere on the
stack or the memo (BINGET / LONG_BINGET / MEMOIZE tricks). Python 2 names are mapped as
the unpickler maps them (`__builtin__.eval` is `builtins.eval`). A name that cannot be
known statically (a STACK_GLOBAL over computed strings) is a refusal.

It also refuses calls the allow-list alone would let through: REDUCE / NEWOBJ / OBJ / INST
on anything but a named allowed global, BUILD on a class or a plain value (which would
set class attributes), and conditional names used outside their one safe shape.

joblib streams (see `joblib/numpy_pickle.py`) write each array's raw bytes right after
the BUILD of its `NumpyArrayWrapper`; the scanner computes their length exactly as
joblib's reader does (shape, dtype, alignment padding; object arrays are a nested pickle,
scanned too) and skips them, so array bytes are never read as opcodes, and opcodes are
never hidden as array bytes. Any layout joblib does not write is refused.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickletools
from dataclasses import dataclass
from typing import Any

from registry.model_files.allowlist import DEFAULT_ALLOWLIST, AllowList
from registry.model_files.compression import DEFAULT_MAX_BYTES, joblib_pickle_bytes
from registry.model_files.errors import ModelFileRefused
from registry.model_files.joblib_arrays import ArrayLayoutError, array_payload_layout
from registry.model_files.pickle_stack import StackMachine, describe
from registry.model_files.pickle_values import Global, Instance, Opaque

_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_MAX_OFFENCES = 50


@dataclass(frozen=True)
class ScanResult:
    """What a static scan found.

    `referenced` lists every global the stream names (sorted); `offending` says, for each
    refusal, what and where (byte offset in the scanned stream).
    """

    allowed: bool
    referenced: tuple[str, ...]
    offending: tuple[str, ...]


def scan_pickle(data: bytes, *, allowlist: AllowList = DEFAULT_ALLOWLIST) -> ScanResult:
    """Scan a plain pickle stream. Raises ModelFileRefused if it is malformed."""
    return _scan(data, allowlist, joblib_arrays=False)


def scan_joblib_stream(data: bytes, *, allowlist: AllowList = DEFAULT_ALLOWLIST) -> ScanResult:
    """Scan a decompressed joblib stream (pickle opcodes with array payloads in between).
    Raises ModelFileRefused if it is malformed."""
    return _scan(data, allowlist, joblib_arrays=True)


def scan_joblib(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, allowlist: AllowList = DEFAULT_ALLOWLIST
) -> ScanResult:
    """Scan a joblib file's bytes: decompressed first (never past `max_bytes`) when they
    start with a compression magic. Raises ModelFileRefused if malformed or too large."""
    return scan_joblib_stream(joblib_pickle_bytes(data, max_bytes=max_bytes), allowlist=allowlist)


def _scan(data: bytes, allowlist: AllowList, *, joblib_arrays: bool) -> ScanResult:
    if not data:
        raise ModelFileRefused("the file is empty")
    stream = io.BytesIO(data)
    referenced: set[str] = set()
    offending: list[str] = []
    machine = _Machine(data, stream, allowlist, referenced, offending, joblib_arrays)
    try:
        machine.run()
        if stream.tell() != len(data):
            raise ModelFileRefused(
                f"pickle is malformed: {len(data) - stream.tell()} unexpected bytes after STOP"
            )
    except Exception as error:  # noqa: BLE001 - any parse failure of hostile bytes is a refusal
        if isinstance(error, ModelFileRefused):
            reason = str(error)
        else:
            reason = f"pickle is malformed: {error}"
        # keep what was found before the stream broke: it says what the file was up to
        raise ModelFileRefused(
            [*offending[:_MAX_OFFENCES], reason], referenced=tuple(sorted(referenced))
        ) from None
    return ScanResult(
        allowed=not offending,
        referenced=tuple(sorted(referenced)),
        offending=tuple(offending[:_MAX_OFFENCES]),
    )


class _Machine(StackMachine):
    """One pickle stream's symbolic unpickler (an object-array payload gets its own)."""

    def __init__(
        self,
        data: bytes,
        stream: io.BytesIO,
        allowlist: AllowList,
        referenced: set[str],
        offending: list[str],
        joblib_arrays: bool,
    ) -> None:
        super().__init__(data, stream, offending)
        self.allowlist = allowlist
        self.referenced = referenced
        self.joblib_arrays = joblib_arrays

    # -- driver -----------------------------------------------------------------------------

    def run(self) -> None:
        for opcode, arg, position in pickletools.genops(self.stream):
            name, pos = opcode.name, int(position or 0)
            if name == "STOP":
                self._stop(pos)
                return
            handler = getattr(self, f"_op_{name}", None)
            if handler is None:
                raise ModelFileRefused(f"opcode {name} at byte {pos} is not supported")
            handler(arg, pos)

    def _stop(self, pos: int) -> None:
        if len(self.stack) != 1 or self.metastack:
            raise ModelFileRefused(f"pickle is malformed: unbalanced stack at STOP (byte {pos})")
        if self.frame_end is not None and self.stream.tell() < self.frame_end:
            raise ModelFileRefused(f"pickle is malformed: STOP inside a frame (byte {pos})")

    # -- names ----------------------------------------------------------------------------

    def _resolve(self, module: str, name: str, opname: str, pos: int) -> Global:
        if self.proto < 3:  # what pickle's find_class does with fix_imports=True
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        verdict = self.allowlist.check(module, name)
        found = Global(module, name, verdict.allowed)
        self.referenced.add(found.qualified)
        if not verdict.allowed:
            self._offend(f"{found.qualified} ({opname})", pos, verdict.reason)
        return found

    def _text_name(self, pos: int) -> tuple[str, str]:
        """GLOBAL / INST names exactly as the unpickler reads them: two raw UTF-8 lines
        (genops escape-decodes them, which could disagree with the real reader)."""
        first_end = self.data.index(b"\n", pos + 1)
        second_end = self.data.index(b"\n", first_end + 1)
        module = self.data[pos + 1 : first_end].decode("utf-8")
        name = self.data[first_end + 1 : second_end].decode("utf-8")
        return module, name

    def _op_GLOBAL(self, arg: str, pos: int) -> None:
        module, name = self._text_name(pos)
        self._push(self._resolve(module, name, "GLOBAL", pos))

    def _op_STACK_GLOBAL(self, arg: None, pos: int) -> None:
        name = self._pop()
        module = self._pop()
        if type(module) is not str or type(name) is not str:
            self._offend(
                "STACK_GLOBAL", pos, "module or name is not a literal string; cannot resolve"
            )
            self._push(Global("?", "?", False))
            return
        self._push(self._resolve(module, name, "STACK_GLOBAL", pos))

    def _op_EXT1(self, arg: int, pos: int) -> None:
        self._offend("EXT opcode", pos, "copyreg extension registry references are refused")
        self._push(Global("?", "?", False))

    _op_EXT2 = _op_EXT4 = _op_EXT1

    def _op_PERSID(self, arg: Any, pos: int) -> None:
        raise ModelFileRefused(f"persistent ids are not supported (byte {pos})")

    _op_BINPERSID = _op_PERSID

    # -- calls ----------------------------------------------------------------------------

    def _op_REDUCE(self, arg: None, pos: int) -> None:
        args = self._pop()
        func = self._pop()
        self._push(self._call(func, args, "REDUCE", pos))

    def _op_INST(self, arg: str, pos: int) -> None:
        module, name = self._text_name(pos)
        args = tuple(self._pop_mark())
        klass = self._resolve(module, name, "INST", pos)
        self._push(self._call(klass, args, "INST", pos))

    def _op_OBJ(self, arg: None, pos: int) -> None:
        items = self._pop_mark()
        if not items:
            raise ModelFileRefused(f"pickle is malformed: OBJ without a class (byte {pos})")
        self._push(self._call(items[0], tuple(items[1:]), "OBJ", pos))

    def _op_NEWOBJ(self, arg: None, pos: int) -> None:
        args = self._pop()
        cls = self._pop()
        self._push(self._new(cls, args, {}, "NEWOBJ", pos))

    def _op_NEWOBJ_EX(self, arg: None, pos: int) -> None:
        kwargs = self._pop()
        args = self._pop()
        cls = self._pop()
        self._push(self._new(cls, args, kwargs, "NEWOBJ_EX", pos))

    def _new(self, cls: Any, args: Any, kwargs: Any, opname: str, pos: int) -> Instance:
        """`cls.__new__(cls, *args, **kwargs)`: no __init__ runs."""
        if not isinstance(cls, Global):
            self._offend(opname, pos, f"applied to {describe(cls)}, not a named class")
            return Instance(None)
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise ModelFileRefused(f"pickle is malformed: {opname} arguments (byte {pos})")
        if cls.qualified == _WRAPPER and (args or kwargs):
            self._offend(opname, pos, "NumpyArrayWrapper created with arguments")
        if self.allowlist.is_conditional(cls.module, cls.name):
            # partial.__new__(partial, func) would wrap any callable value, unchecked
            self._offend(f"{cls.qualified} ({opname})", pos, "called outside its one allowed form")
            return Instance(None)
        return _instance_of(cls, args)

    def _call(self, func: Any, args: Any, opname: str, pos: int) -> Any:
        """`func(*args)` for REDUCE, and INST / OBJ (which call the class)."""
        if not isinstance(func, Global):
            self._offend(opname, pos, f"calls {describe(func)}, not a named allowed global")
            return Instance(None)
        if not isinstance(args, tuple):
            self._offend(opname, pos, "arguments are not a tuple")
            return Instance(None)
        if not func.allowed:
            return Instance(func, args)  # already reported when the name was pushed
        qualified = func.qualified
        if qualified == _WRAPPER and (args or opname == "REDUCE"):
            # joblib only writes wrappers with NEWOBJ (or _reconstructor), then BUILD
            self._offend(opname, pos, "NumpyArrayWrapper built by its constructor")
            return Instance(None)
        if self.allowlist.is_conditional(func.module, func.name):
            return self._conditional_call(func, args, opname, pos)
        return _instance_of(func, args)

    def _conditional_call(self, func: Global, args: tuple[Any, ...], opname: str, pos: int) -> Any:
        qualified = func.qualified
        if qualified == "_codecs.encode":
            if len(args) == 2 and type(args[0]) is str and args[1] == "latin1":
                return Opaque("bytes")
        elif qualified == "functools.partial":
            if args and self._plain_allowed(args[0]):
                return Instance(func, args, kind="partial")
        elif qualified == "copyreg._reconstructor":
            # _reconstructor(cls, base, state) calls base.__new__(cls, state): neither may be
            # a conditional name (base=partial would wrap `state`, any callable value)
            if (
                len(args) == 3
                and all(isinstance(arg, Global) for arg in args[:2])
                and not any(self.allowlist.is_conditional(a.module, a.name) for a in args[:2])
            ):
                if args[0].qualified != _WRAPPER:
                    return _instance_of(args[0], ())
                if args[1].qualified == "builtins.object" and args[2] is None:
                    return Instance(args[0], (), kind="wrapper")
        self._offend(f"{qualified} ({opname})", pos, "called outside its one allowed form")
        return Instance(None)

    def _plain_allowed(self, value: Any) -> bool:
        """A named, allowed global that is not itself conditional."""
        return (
            isinstance(value, Global)
            and value.allowed
            and not self.allowlist.is_conditional(value.module, value.name)
        )

    # -- BUILD --------------------------------------------------------------------------------

    def _op_BUILD(self, arg: None, pos: int) -> None:
        state = self._pop()
        inst = self._top()
        if not isinstance(inst, Instance):
            # on a class this would set class attributes; on a plain value it fails anyway
            self._offend("BUILD", pos, f"applied to {describe(inst)}")
            return
        if inst.maker is None or not inst.maker.allowed:
            return
        if inst.kind == "partial":
            self._build_partial(state, pos)
        elif inst.kind == "dtype":
            inst.state = state
        elif inst.kind == "wrapper":
            self._build_wrapper(inst, state, pos)

    def _build_partial(self, state: Any, pos: int) -> None:
        # partial.__setstate__((func, args, kwds, namespace)) replaces the function
        if not (isinstance(state, tuple) and len(state) == 4 and self._plain_allowed(state[0])):
            self._offend(
                "functools.partial (BUILD)", pos, "state does not name an allowed function"
            )

    def _build_wrapper(self, wrapper: Instance, state: Any, pos: int) -> None:
        slotstate = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slotstate = state
        for part in (state, slotstate):
            if not part:
                continue
            if not isinstance(part, dict) or not all(type(k) is str for k in part):
                raise ModelFileRefused(f"NumpyArrayWrapper state is not a dict (byte {pos})")
            wrapper.attrs.update(part)
        if self.joblib_arrays:
            self._skip_array_payload(wrapper, pos)
            # NumpyUnpickler replaces the wrapper on the stack by the array it read
            self.stack[-1] = Instance(wrapper.maker, kind="array")

    def _skip_array_payload(self, wrapper: Instance, pos: int) -> None:
        here = self.stream.tell()
        if self.frame_end is not None and here < self.frame_end:
            # joblib ends the frame before array bytes; the reader would read them from
            # after the frame while opcodes continue inside it
            raise ModelFileRefused(f"joblib array data inside a pickle frame (byte {pos})")
        try:
            layout = array_payload_layout(wrapper.attrs, self.data, here)
        except ArrayLayoutError as error:
            raise ModelFileRefused(f"joblib array at byte {pos}: {error}") from None
        if layout.nested_pickle:
            inner = _Machine(
                self.data, self.stream, self.allowlist, self.referenced, self.offending, False
            )
            inner.run()
        else:
            self.stream.seek(here + layout.length)


def _instance_of(cls: Global, args: tuple[Any, ...]) -> Instance:
    qualified = cls.qualified
    if qualified == "numpy.dtype":
        return Instance(cls, args, kind="dtype")
    if qualified == _WRAPPER:
        return Instance(cls, args, kind="wrapper")
    return Instance(cls, args)
