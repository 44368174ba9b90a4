"""The static pickle scanner: every name a load would call is found, hostile streams are
refused, and nothing is ever unpickled (the canary never appears)."""

from __future__ import annotations

import pickle
import random

import pytest

from registry.model_files import ModelFileRefused, inspect_model_file, load_verified_model
from registry.model_files.pickle_scan import scan_pickle
from tests.registry.model_files.conftest import canary_payloads

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def _refused_everywhere(path, fmt: str, dangerous: str) -> None:
    result = inspect_model_file(path, fmt)
    assert not result.verified
    assert any(dangerous in reason for reason in result.reasons), result.reasons
    with pytest.raises(ModelFileRefused) as refusal:
        load_verified_model(path, fmt)
    assert any(dangerous in reason for reason in refusal.value.reasons)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_reduce_payloads_are_refused_at_every_protocol(tmp_path, canary, protocol):
    # given a pickle per payload whose __reduce__ would create the canary
    for dangerous, payload in canary_payloads(canary).items():
        path = tmp_path / f"{dangerous}.pkl"
        path.write_bytes(pickle.dumps(payload, protocol=protocol))
        # when it is inspected and loaded, then it is refused, naming the payload's global
        _refused_everywhere(path, "pickle", dangerous)


def test_payload_hidden_inside_a_legit_model_is_refused(tmp_path, canary, fitted_models):
    model = fitted_models["random_forest"].model
    model.notes = {"innocent": [1, 2, canary_payloads(canary)["posix.system"]]}
    try:
        data = pickle.dumps(model, protocol=5)
    finally:
        del model.notes
    path = tmp_path / "model.pkl"
    path.write_bytes(data)
    _refused_everywhere(path, "pickle", "posix.system")
    assert (
        "sklearn.ensemble._forest.RandomForestClassifier"
        in inspect_model_file(path, "pickle").referenced_types
    )


def _text(value: str) -> bytes:
    """SHORT_BINUNICODE: push a short string."""
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _stack_global_memo_trick(canary) -> bytes:
    """'builtins' is pushed and memoized for an allowed name, then reused from the memo
    (BINGET) for exec: a scanner that only looks at adjacent strings misses it."""
    return b"".join(
        [
            b"\x80\x04",
            _text("builtins") + b"\x94",  # memo 0
            _text("dict") + b"\x94",  # memo 1
            b"\x93",  # STACK_GLOBAL builtins.dict (allowed)
            b"0",  # POP it
            _text("exec") + b"\x94",  # memo 2
            b"0",  # POP it: the strings now live only in the memo
            b"h\x00h\x02",  # BINGET 0, BINGET 2 -> 'builtins', 'exec'
            b"\x93",  # STACK_GLOBAL builtins.exec
            _text(f"open({str(canary)!r}, 'w').close()"),
            b"\x85R.",  # TUPLE1, REDUCE, STOP
        ]
    )


def test_stack_global_through_the_memo_is_resolved(tmp_path, canary):
    path = tmp_path / "memo.pkl"
    path.write_bytes(_stack_global_memo_trick(canary))
    _refused_everywhere(path, "pickle", "builtins.exec")


def test_python2_names_are_mapped_like_the_unpickler_does(tmp_path, canary):
    # __builtin__.eval is builtins.eval for an unpickler below protocol 3
    path = tmp_path / "py2.pkl"
    path.write_bytes(b"c__builtin__\neval\n(S'open(%r, \"w\")'\ntR." % str(canary).encode())
    _refused_everywhere(path, "pickle", "builtins.eval")


def test_posix_system_by_stack_global_with_long_binget(tmp_path, canary):
    data = b"".join(
        [
            b"\x80\x04",
            _text("posix") + b"r\x00\x01\x00\x000",  # LONG_BINPUT 256, POP
            _text("system") + b"r\x01\x01\x00\x000",  # LONG_BINPUT 257, POP
            b"j\x00\x01\x00\x00j\x01\x01\x00\x00",  # LONG_BINGET 256, 257
            b"\x93",
            _text(f"touch {canary}"),
            b"\x85R.",
        ]
    )
    path = tmp_path / "long_binget.pkl"
    path.write_bytes(data)
    _refused_everywhere(path, "pickle", "posix.system")


def test_stack_global_over_computed_strings_is_refused():
    # the module name comes out of a call (str('os')): it cannot be known statically
    data = b"\x80\x04\x8c\x08builtins\x8c\x03str\x93\x8c\x02os\x85R\x8c\x06system\x93)R."
    result = scan_pickle(data)
    assert not result.allowed
    assert any("cannot resolve" in reason for reason in result.offending)


@pytest.mark.parametrize(
    ("module", "name", "why"),
    [
        ("numpy", "ndarray.tofile", "dotted name reaching a method"),
        ("sklearn.pipeline", "Parallel", "re-exported from sklearn.utils"),
        ("sklearn.base", "inspect", "a module object"),
        ("sklearn.base", "clone", "a function outside the allowed function modules"),
        ("sklearn.utils._testing", "TempMemmap", "a testing helper"),
        ("joblib.numpy_pickle_compat", "NDArrayWrapper", "reads companion files"),
        ("builtins", "getattr", "reaches any attribute"),
        ("numpy", "load", "reads files"),
    ],
)
def test_names_outside_the_allow_list_are_refused(module, name, why):
    data = b"\x80\x04" + _text(module) + _text(name) + b"\x93."
    result = scan_pickle(data)
    assert not result.allowed, why
    assert result.offending[0].startswith(f"{module}.{name}")


def test_build_on_a_class_is_refused():
    # BUILD with a dict on a class would set class attributes (monkey-patch the server)
    data = b"".join(
        [
            b"\x80\x04",
            _text("sklearn.linear_model._logistic") + _text("LogisticRegression") + b"\x93",
            b"}" + _text("predict") + _text("x") + b"sb.",  # dict, SETITEM, BUILD
        ]
    )
    result = scan_pickle(data)
    assert any(reason.startswith("BUILD") for reason in result.offending)


def test_reduce_on_a_value_that_is_not_a_named_global_is_refused():
    # calling the result of an allowed call (here a dict) is not a named allowed global
    data = b"\x80\x04\x8c\x08builtins\x8c\x04dict\x93)R)R."
    result = scan_pickle(data)
    assert any("not a named allowed global" in reason for reason in result.offending)


def test_conditional_names_outside_their_form_are_refused():
    # _codecs.encode with another codec than latin1
    data = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R."
    result = scan_pickle(data)
    assert any("_codecs.encode" in reason for reason in result.offending)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\x05",
        b"\x80\x06N.",  # unknown protocol
        b"N",  # no STOP
        b"NN.",  # two values left at STOP
        b"\x80\x04h\x05.",  # memo never set
        b"\x80\x04e.",  # APPENDS without MARK
        b"\x80\x04N.garbage",  # bytes after STOP
        b"\xff\xfe\xfd",
        b"\x80\x04P1\n.",  # persistent id
        b"\x80\x05\x97.",  # out-of-band buffer
    ],
)
def test_malformed_streams_are_refused_cleanly(data):
    with pytest.raises(ModelFileRefused):
        scan_pickle(data)


def test_random_and_truncated_bytes_are_refused(tmp_path, fitted_models):
    rng = random.Random(0)
    legit = pickle.dumps(fitted_models["pipeline"].model, protocol=4)
    samples = [rng.randbytes(size) for size in (1, 7, 100, 4096)]
    samples += [legit[:cut] for cut in (1, 10, len(legit) // 2, len(legit) - 1)]
    for index, sample in enumerate(samples):
        path = tmp_path / f"bad{index}.pkl"
        path.write_bytes(sample)
        result = inspect_model_file(path, "pickle")
        assert not result.verified
        assert result.reasons
        with pytest.raises(ModelFileRefused):
            load_verified_model(path, "pickle")


def test_a_missing_file_or_an_unknown_format_is_a_refusal(tmp_path):
    assert not inspect_model_file(tmp_path / "nope.pkl", "pickle").verified
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    result = inspect_model_file(tmp_path / "m.onnx", "onnx")
    assert not result.verified
    assert "onnx" in result.reasons[0]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # partial.__new__(partial, <callable value>) skips the check on REDUCE
        (
            b"\x80\x04"
            + _text("functools")
            + _text("partial")
            + b"\x93"
            + _text("builtins")
            + _text("dict")
            + b"\x93\x85\x81.",
            "functools.partial (NEWOBJ)",
        ),
        # _reconstructor(partial, partial, state) would build partial(state)
        (
            b"\x80\x02"
            + b"ccopy_reg\n_reconstructor\n"
            + b"cfunctools\npartial\ncfunctools\npartial\n"
            + b"c__builtin__\ndict\n\x87R.",
            "copyreg._reconstructor (REDUCE)",
        ),
        # partial around a name that is not on the allow-list
        (
            b"\x80\x04"
            + _text("functools")
            + _text("partial")
            + b"\x93"
            + _text("posix")
            + _text("system")
            + b"\x93\x85R.",
            "functools.partial (REDUCE)",
        ),
    ],
)
def test_conditional_names_cannot_be_reached_another_way(data, expected):
    result = scan_pickle(data)
    assert any(reason.startswith(expected) for reason in result.offending), result.offending
