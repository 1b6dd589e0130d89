"""Content-addressed storage shared by circuits, datasets and spaces.

- :class:`~.blobs.BlobStore` (``hub.blobs``): stage → add_refs/commit inside a
  transaction → release → collect_garbage.
- :class:`~.quota.StorageAccounts` (``hub.storage_accounts``): per-owner usage and quota.
- :func:`~.paths.safe_relative_path`: upload file-name sanitising.

The HTTP side (serving blobs, streaming uploads) is the API layer's:
``qubithub_lite/api/downloads.py`` and ``qubithub_lite/api/uploads.py``.
"""

from .blobs import BlobStore, StagedBlob, TooLarge
from .paths import UnsafePath, is_safe_relative_path, safe_relative_path
from .quota import QUOTA_EXCEEDED, QuotaExceeded, StorageAccounts, owner_key

__all__ = [
    "BlobStore", "StagedBlob", "TooLarge", "UnsafePath", "is_safe_relative_path", "safe_relative_path",
    "QUOTA_EXCEEDED", "QuotaExceeded", "StorageAccounts", "owner_key",
]
