"""The allow-list as data: what is in, what is out, and that the deny list always wins."""

from __future__ import annotations

import pytest

from registry.model_files.allowlist import (
    ALLOWED_NAMES,
    CONDITIONAL_NAMES,
    DEFAULT_ALLOWLIST,
    NEVER_MODULES,
    NEVER_NAMES,
    AllowList,
    check_reference,
)


def test_no_allowed_name_is_also_denied():
    for qualified in ALLOWED_NAMES | set(CONDITIONAL_NAMES):
        module, _, name = qualified.rpartition(".")
        in_never_module = any(module == m or module.startswith(m + ".") for m in NEVER_MODULES)
        assert not in_never_module, qualified
        assert qualified not in NEVER_NAMES, qualified


def test_the_deny_list_wins_over_an_exact_allow():
    careless = AllowList(names=ALLOWED_NAMES | {"os.system", "builtins.getattr"})
    assert not careless.check("os", "system").allowed
    assert not careless.check("builtins", "getattr").allowed


@pytest.mark.parametrize(
    "qualified",
    [
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.metrics._classification.accuracy_score",
        "sklearn.utils._bunch.Bunch",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray._reconstruct",
        "numpy.dtype",
        "numpy.float64",
        "numpy.log1p",
        "builtins.dict",
        "builtins.bool",
        "collections.OrderedDict",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "functools.partial",
        "copyreg._reconstructor",
        "_codecs.encode",
    ],
)
def test_model_building_blocks_are_allowed(qualified):
    assert DEFAULT_ALLOWLIST.check_qualified(qualified).allowed


@pytest.mark.parametrize(
    "qualified",
    [
        "os.system",
        "posix.system",
        "nt.system",
        "subprocess.Popen",
        "sys.modules",
        "builtins.eval",
        "builtins.exec",
        "builtins.getattr",
        "builtins.__import__",
        "builtins.open",
        "builtins.compile",
        "builtins.type",
        "importlib.import_module",
        "pickle.loads",
        "marshal.loads",
        "types.FunctionType",
        "socket.socket",
        "shutil.rmtree",
        "runpy.run_path",
        "codecs.open",
        "operator.attrgetter",
        "functools.reduce",
        "numpy.load",
        "numpy.memmap",
        "numpy.testing.assert_equal",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.load",
        "sklearn.utils.parallel.Parallel",
        "sklearn.utils._testing.TempMemmap",
        "sklearn.datasets.fetch_openml",
        "sklearn.tree.export_graphviz",
        "sklearn.tree._export.export_graphviz",
        "sklearn.set_config",
        "sklearn.base.clone",
        "sklearn.pipeline.Parallel",
        "sklearn.base.BaseEstimator.__init__",
        "sklearn.base.__builtins__",
        "sklearn.nope.Missing",
        "sklearn.tests.test_base.T",
        "collections.defaultdict",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
    ],
)
def test_anything_that_runs_code_or_touches_the_system_is_refused(qualified):
    verdict = DEFAULT_ALLOWLIST.check_qualified(qualified)
    assert not verdict.allowed
    assert verdict.reason


def test_check_reference_is_the_default_list():
    assert check_reference("sklearn.pipeline", "Pipeline").allowed
    assert not check_reference("posix", "system").allowed
