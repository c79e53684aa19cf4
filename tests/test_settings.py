"""Settings: pure defaults, and one function (``resolve``) for defaults < environment < flags."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from polyfind.errors import PolyfindError, SettingsError
from polyfind.settings import (
    ENVIRONMENT,
    ChunkingSettings,
    LanguageSettings,
    Settings,
    resolve,
)

#: A value each environment variable refuses, with a word its message must hold. Variables
#: that take any text (a path, a model name) have none.
BAD = {
    "POLYFIND_PRECISION": ("fp64", "one of fp32, int8, bf16"),
    "POLYFIND_ENGINE": ("onnx", "one of torch, openvino"),
    "POLYFIND_LOAD_TIMEOUT": ("soon", "number of seconds"),
    "POLYFIND_LOAD_MEMORY_MB": ("lots", "number of MB"),
    "POLYFIND_OCR": ("maybe", "1 or 0"),
    "POLYFIND_RESIDENT": ("maybe", "1 or 0"),
    "POLYFIND_RESIDENT_IDLE": ("0", "positive number of seconds"),
}
ANY_TEXT = {"POLYFIND_INDEX", "POLYFIND_CACHE", "POLYFIND_MODEL", "POLYFIND_RUN_DIR"}


def test_every_variable_is_either_checked_or_free_text() -> None:
    assert set(ENVIRONMENT) == set(BAD) | ANY_TEXT


def test_settings_are_the_defaults_whatever_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable, (bad, _) in BAD.items():
        monkeypatch.setenv(variable, bad)
    monkeypatch.setenv("POLYFIND_INDEX", "/elsewhere")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    s = Settings()
    assert s.index_dir == Path("indexes/default")
    assert s.precision is None and s.load_timeout_s == 600.0 and s.load_memory_mb == 4096
    assert s.extraction.ocr.enabled is True
    assert s.cache_dir == Path.home() / ".cache" / "polyfind"


def test_resolve_layers_defaults_environment_and_flags() -> None:
    env = {
        "POLYFIND_INDEX": "/env/index",
        "POLYFIND_MODEL": "env-model",
        "POLYFIND_PRECISION": "int8",
        "POLYFIND_LOAD_TIMEOUT": "0",
        "POLYFIND_LOAD_MEMORY_MB": "2048",
        "POLYFIND_OCR": "off",
    }
    assert resolve(env={}) == Settings()
    from_env = resolve(env=env)
    assert from_env.index_dir == Path("/env/index")
    assert from_env.model == "env-model"
    assert from_env.precision == "int8"
    assert from_env.load_timeout_s is None  # 0: no limit
    assert from_env.load_memory_mb == 2048
    assert from_env.extraction.ocr.enabled is False
    assert from_env.chunk_tokens == Settings().chunk_tokens  # what neither names: the default
    flags = {
        "index_dir": Path("/flag/index"),
        "precision": "bf16",
        "model": None,  # not given: the environment's stands
        "extraction.ocr.enabled": True,
        "chunk_tokens": 200,
    }
    both = resolve(flags, env=env)
    assert both.index_dir == Path("/flag/index")
    assert both.precision == "bf16"
    assert both.model == "env-model"
    assert both.extraction.ocr.enabled is True
    assert both.extraction.ocr.languages == Settings().extraction.ocr.languages
    assert both.chunk_tokens == 200
    assert resolve({"index_dir": "relative/index"}, env={}).index_dir == Path("relative/index")


def test_an_empty_variable_counts_as_unset() -> None:
    assert resolve(env=dict.fromkeys(ENVIRONMENT, " ")) == Settings()


def test_cache_follows_polyfind_cache_then_xdg() -> None:
    assert resolve(env={"XDG_CACHE_HOME": "/xdg"}).cache_dir == Path("/xdg/polyfind")
    both = {"XDG_CACHE_HOME": "/xdg", "POLYFIND_CACHE": "/mine"}
    assert resolve(env=both).cache_dir == Path("/mine")
    assert resolve(env=both).model_cache_dir == Path("/mine/models")


@pytest.mark.parametrize("variable", sorted(BAD))
def test_a_bad_variable_is_one_line_naming_it(variable: str) -> None:
    value, expected = BAD[variable]
    with pytest.raises(SettingsError) as info:
        resolve(env={variable: value})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{variable} ") and expected in message and repr(value) in message
    assert message.endswith("fix it or unset it")
    assert isinstance(info.value, PolyfindError)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("POLYFIND_LOAD_TIMEOUT", "-5"), ("POLYFIND_LOAD_MEMORY_MB", "-1")],
)
def test_a_value_out_of_range_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable} must .*got -.*; fix it or unset it$"):
        resolve(env={variable: value})


def test_a_flag_overrides_a_bad_variable() -> None:
    assert resolve({"precision": "fp32"}, env={"POLYFIND_PRECISION": "fp64"}).precision == "fp32"


def test_a_bad_flag_names_the_flag() -> None:
    with pytest.raises(SettingsError, match=r"^--precision must be one of .*'fp64'$"):
        resolve({"precision": "fp64"}, env={})
    with pytest.raises(SettingsError, match=r"^chunk_tokens must be between 16 and 510"):
        resolve({"chunk_tokens": 5}, env={})
    with pytest.raises(SettingsError, match=r"^extraction\.ocr\.render_dpi must be positive"):
        resolve({"extraction.ocr.render_dpi": 0}, env={})
    with pytest.raises(SettingsError, match=r"there is no setting 'extraction\.ocr\.colour'"):
        resolve({"extraction.ocr.colour": True}, env={})
    with pytest.raises(SettingsError, match=r"^extraction\.ocr\.enabled must be a bool"):
        resolve({"extraction.ocr.enabled": "no"}, env={})


def test_with_changes_nested_settings_by_dotted_name() -> None:
    s = Settings().with_(**{"extraction.tables.min_rows": 3, "batch_size": 8})
    assert s.extraction.tables.min_rows == 3 and s.batch_size == 8
    assert s.extraction.layout == Settings().extraction.layout
    with pytest.raises(SettingsError, match="batch_size must be positive"):
        Settings().with_(batch_size=0)


def test_settings_pickle_for_the_loader_processes() -> None:
    import pickle

    s = resolve({"extraction.ocr.enabled": False}, env={})
    assert pickle.loads(pickle.dumps(s)) == s


def test_every_group_is_frozen() -> None:
    def groups(obj: object) -> list[object]:
        found = [getattr(obj, f.name) for f in fields(obj) if is_dataclass(getattr(obj, f.name))]
        return found + [g for sub in found for g in groups(sub)]

    found = groups(Settings())
    assert len(found) == 8  # extraction (layout, tables, ocr), language, chunking, watch, resident
    for group in found:
        with pytest.raises(AttributeError):
            group.__setattr__(fields(group)[0].name, None)


def test_import_with_a_bad_environment_does_not_raise() -> None:
    env = dict(os.environ, **{variable: value for variable, (value, _) in BAD.items()})
    code = (
        "import polyfind, polyfind.cli, polyfind.server, polyfind.vectors, polyfind.pipeline\n"
        "from polyfind.loaders import pdf, ocr, layout, tables\n"
        "print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def _words(texts: Sequence[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def test_chunking_and_language_knobs_reach_chunk_text() -> None:
    from polyfind.chunking import chunk_text
    from polyfind.language import detect_language

    text = " ".join(["One two three four five six seven eight nine ten."] * 5) + " Short end."
    merged = chunk_text(text, count_tokens=_words, max_tokens=50, overlap=0, lang_default="en")
    assert len(merged) == 1  # the 2-word remnant joins: 52 <= 1.15 * 50
    strict = ChunkingSettings(remnant_stretch=1.0)
    kept = chunk_text(
        text, count_tokens=_words, max_tokens=50, overlap=0, lang_default="en", cfg=strict
    )
    assert len(kept) == 2
    mixed = "한국 semiconductor."  # 2 Hangul syllables x 3 against 13 Latin letters
    heavy = LanguageSettings(cjk_weight=10)
    assert detect_language(mixed) == "en" and detect_language(mixed, cfg=heavy) == "ko"
    [span] = chunk_text(
        mixed, count_tokens=_words, max_tokens=50, overlap=0, lang_default="en", language=heavy
    )
    assert span.lang == "ko"
