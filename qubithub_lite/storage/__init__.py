"""Content-addressed storage shared by circuits, datasets and spaces.

- :class:`~.blobs.BlobStore` (``hub.blobs``): stage → add_refs/commit inside a
  transaction → release → collect_garbage.
- :class:`~.quota.StorageAccounts` (``hub.storage_accounts``): per-owner usage and quota.
- :func:`~.paths.safe_relative_path`: upload file-name sanitising.

The HTTP side (serving blobs, streaming uploads) is the API layer's:
``qubithub_lite/api/downloads.py`` and ``qubithub_lite/api/uploads.py``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .blobs import BlobStore, StagedBlob, TooLarge
    from .paths import UnsafePath, is_safe_relative_path, safe_relative_path
    from .quota import QUOTA_EXCEEDED, QuotaExceeded, StorageAccounts, owner_key

#: name -> submodule. Loaded on first use, so ``storage.backup`` (the ``backup`` command) does
#: not load the database layer the blob store needs.
_EXPORTS = {
    "BlobStore": "blobs", "StagedBlob": "blobs", "TooLarge": "blobs",
    "UnsafePath": "paths", "is_safe_relative_path": "paths", "safe_relative_path": "paths",
    "QUOTA_EXCEEDED": "quota", "QuotaExceeded": "quota", "StorageAccounts": "quota", "owner_key": "quota",
}

__all__ = [
    "BlobStore", "StagedBlob", "TooLarge", "UnsafePath", "is_safe_relative_path", "safe_relative_path",
    "QUOTA_EXCEEDED", "QuotaExceeded", "StorageAccounts", "owner_key",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
