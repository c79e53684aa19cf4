"""Exceptions a user can cause. Each message says what happened and what to do next."""

from __future__ import annotations


class PolyfindError(Exception):
    """Base class: the CLI prints the message on one line and exits with status 1."""


class SettingsError(PolyfindError, ValueError):
    """A setting (from a flag, the environment or code) that cannot be used."""

    def __init__(
        self, message: str, *, setting: str | None = None, problem: str | None = None
    ) -> None:
        super().__init__(message)
        self.setting = setting
        """The setting's (dotted) name, where one is to blame."""
        self.problem = problem
        """What is wrong with its value, without the name ("must be positive, got 0")."""


class IndexMissingError(PolyfindError):
    """No index exists at the given location."""


class IndexDamagedError(PolyfindError):
    """An index file is truncated, corrupted or inconsistent."""


class ModelMismatchError(PolyfindError):
    """The index was built with a different embedding model."""


class ModelUnavailableError(PolyfindError):
    """The embedding model cannot be found or built."""


class LoadError(PolyfindError):
    """A file could not be read or parsed."""


class EncryptedFileError(LoadError):
    """A PDF needs a password."""


class EmptyQueryError(PolyfindError):
    """The query has no searchable text."""


class UnknownLanguageError(PolyfindError):
    """A language code the index does not know."""


class IndexBusyError(PolyfindError):
    """Another process is writing the index."""


class IndexWriteError(PolyfindError):
    """The index cannot be written (disk full, read-only, permissions); it is left as it was."""


class IndexUnreadableError(PolyfindError):
    """The index is sound but cannot be read where it is (e.g. its last changes wait in the
    write-ahead log on a read-only file system)."""


class IndexVersionError(PolyfindError):
    """The index's format is newer than this polyfind knows, or too old to read without
    upgrading it first (``polyfind index``)."""


class InputMissingError(PolyfindError):
    """A path given to ``index`` (or ``--forget``) does not exist or names nothing indexed."""


class IndexLocationError(PolyfindError):
    """``--index`` names something that cannot be an index: a file, a folder of other files,
    a place without write permission (for ``index``)."""


class StoreUnavailableError(PolyfindError):
    """The index's store (a Milvus server) cannot be reached, refuses us, or lacks the
    index's collection."""
