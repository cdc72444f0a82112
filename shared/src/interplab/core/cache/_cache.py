"""A content-addressed cache on disk.

Layout under ``root``::

    entries/ab/abcdef…/meta.json          key parts, codec, payload sha256, size, created
    entries/ab/abcdef…/<sha256>.<codec>   the payload, named by its own hash
    dirs/ab/abcdef…/                      cached folders (e.g. a save_pretrained model)
    dirs/ab/abcdef….manifest.json         sha256 of every file in that folder
    blobs/ab/<sha256>                     artifacts (figures, files) addressed by content

The key is the sha256 of the canonical JSON of the key parts: everything that determines the
result (config, weights digest, data digest, code version). Writes go to a temporary name and
are renamed into place, so a reader never sees half a file; every read re-hashes the payload and
a mismatch is reported (:class:`CacheCorruptionWarning`), the entry deleted and the value
recomputed: a corrupt entry is never returned.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from interplab.core.cache._codecs import decode, encode
from interplab.core.errors import CacheError
from interplab.core.hashing import canonical_json, digest_bytes, digest_file, digest_json
from interplab.core.paths import default_cache_dir

__all__ = ["Cache", "CacheCorruptionWarning", "CacheInfo", "CacheStats"]

T = TypeVar("T")
log = logging.getLogger("interplab.cache")


class CacheCorruptionWarning(UserWarning):
    """A cache entry whose bytes no longer match their recorded sha256; it was recomputed."""


@dataclass
class CacheStats:
    """Counts for this :class:`Cache` object since it was created."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0


@dataclass(frozen=True)
class CacheInfo:
    """What a cache directory holds."""

    root: Path
    entries: int
    dirs: int
    blobs: int
    size_bytes: int
    by_codec: dict[str, int] = field(default_factory=dict)


class Cache:
    """Content-addressed cache of computed values, folders and blobs under ``root``.

    ``root`` defaults to ``$INTERPLAB_CACHE`` or ``$INTERPLAB_HOME/cache``.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CacheError(
                f"cannot create the cache directory {str(self.root)!r}: {error}"
            ) from None
        self.stats = CacheStats()

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    # ---------------------------------------------------------------- values

    @staticmethod
    def key(key_parts: Any) -> str:
        """The entry's address: sha256 of the canonical JSON of ``key_parts``."""
        return digest_json(key_parts)

    def get_or_compute(self, key_parts: Any, compute: Callable[[], T]) -> T:
        """Return the cached value for ``key_parts``, or compute, store and return it.

        Args:
            key_parts: JSON-like description of everything the value depends on.
            compute: called with no arguments on a miss (or after a corrupt entry).

        Returns:
            The value as stored: tensors come back on CPU, JSON as plain Python values.
        """
        key = self.key(key_parts)
        found, value = self._load(key)
        if found:
            self.stats.hits += 1
            return cast(T, value)
        self.stats.misses += 1
        computed = compute()
        self._store(key, key_parts, computed)
        found, stored = self._load(key)  # return what a later hit returns (tensors on CPU)
        return cast(T, stored) if found else computed

    def get(self, key_parts: Any, default: Any = None) -> Any:
        """The cached value, or ``default`` if absent (or corrupt, which is reported)."""
        found, value = self._load(self.key(key_parts))
        return value if found else default

    def put(self, key_parts: Any, value: Any) -> str:
        """Store ``value`` under ``key_parts``; returns the key."""
        key = self.key(key_parts)
        self._store(key, key_parts, value)
        return key

    def contains(self, key_parts: Any) -> bool:
        """Whether a (not yet verified) entry exists for ``key_parts``."""
        return (self._entry_dir(self.key(key_parts)) / "meta.json").is_file()

    def _entry_dir(self, key: str) -> Path:
        return self.root / "entries" / key[:2] / key

    def _store(self, key: str, key_parts: Any, value: Any) -> None:
        codec, payload = encode(value)
        sha = digest_bytes(payload)
        entry = self._entry_dir(key)
        entry.mkdir(parents=True, exist_ok=True)
        _atomic_write(entry / f"{sha}.{codec}", payload)
        meta = {
            "key": key,
            "key_parts": json.loads(canonical_json(key_parts)),
            "codec": codec,
            "sha256": sha,
            "size_bytes": len(payload),
            "created": time.time(),
        }
        _atomic_write(entry / "meta.json", json.dumps(meta, indent=1).encode())
        # Payloads of earlier writes under this key (a nondeterministic compute, or a recompute
        # after corruption) are left in place: deleting them could race with another process
        # whose meta.json points at one. `interplab cache clear` removes them.

    def _load(self, key: str) -> tuple[bool, Any]:
        entry = self._entry_dir(key)
        meta_path = entry / "meta.json"
        if not meta_path.is_file():
            return False, None
        try:
            meta = json.loads(meta_path.read_text())
            payload = (entry / f"{meta['sha256']}.{meta['codec']}").read_bytes()
        except (OSError, ValueError, KeyError, TypeError) as error:  # TypeError: not an object
            self._report_corrupt(entry, f"unreadable entry ({error})")
            return False, None
        actual = digest_bytes(payload)
        if actual != meta["sha256"]:
            self._report_corrupt(entry, f"sha256 {actual[:12]}… != recorded {meta['sha256'][:12]}…")
            return False, None
        try:
            return True, decode(meta["codec"], payload)
        except Exception as error:  # a payload that hashes right but does not decode
            self._report_corrupt(entry, f"cannot decode ({error})")
            return False, None

    def _report_corrupt(self, path: Path, why: str) -> None:
        self.stats.corrupt += 1
        message = f"cache entry {path} is corrupt: {why}; deleting it and recomputing."
        log.warning(message)
        warnings.warn(message, CacheCorruptionWarning, stacklevel=4)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    # ---------------------------------------------------------------- folders

    def directory(self, key_parts: Any, build: Callable[[Path], None]) -> Path:
        """A cached folder: ``build(tmp_dir)`` fills it on a miss; every file is hash-checked.

        Used for models saved with ``save_pretrained``. Returns the folder's path; don't modify it.
        """
        key = self.key(key_parts)
        final = self.root / "dirs" / key[:2] / key
        manifest_path = final.with_name(f"{key}.manifest.json")
        is_present = manifest_path.is_file() and final.is_dir()
        if is_present and self._verify_dir(final, manifest_path):
            self.stats.hits += 1
            return final
        self.stats.misses += 1
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=final.parent))
        try:
            build(tmp)
            files = {
                p.relative_to(tmp).as_posix(): digest_file(p)
                for p in sorted(tmp.rglob("*"))
                if p.is_file()
            }
            shutil.rmtree(final, ignore_errors=True)
            manifest_path.unlink(missing_ok=True)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        manifest = {"key_parts": json.loads(canonical_json(key_parts)), "files": files}
        _atomic_write(manifest_path, json.dumps(manifest, indent=1).encode())
        return final

    def _verify_dir(self, folder: Path, manifest_path: Path) -> bool:
        try:
            expected = json.loads(manifest_path.read_text())["files"]
            actual = {
                p.relative_to(folder).as_posix(): digest_file(p)
                for p in folder.rglob("*")
                if p.is_file()
            }
        except (OSError, ValueError, KeyError, TypeError) as error:
            actual, expected = {}, {"unreadable": str(error)}
        if actual == expected:
            return True
        changed = sorted(set(actual.items()) ^ set(expected.items()))[:3]
        self._report_corrupt(folder, f"files differ from the manifest: {changed}")
        manifest_path.unlink(missing_ok=True)
        return False

    # ---------------------------------------------------------------- blobs

    def put_blob(self, data: bytes) -> str:
        """Store bytes by content; returns their sha256 (the blob's address)."""
        sha = digest_bytes(data)
        path = self.blob_path(sha)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, data)
        return sha

    def blob_path(self, sha256: str) -> Path:
        """Where the blob with this hash lives (it may not exist)."""
        return self.root / "blobs" / sha256[:2] / sha256

    def read_blob(self, sha256: str) -> bytes | None:
        """The blob's bytes, or ``None`` if missing or corrupt (corruption is reported)."""
        path = self.blob_path(sha256)
        if not path.is_file():
            return None
        data = path.read_bytes()
        if digest_bytes(data) != sha256:
            self._report_corrupt(path, "blob bytes do not match their address")
            return None
        return data

    # ---------------------------------------------------------------- housekeeping

    def info(self) -> CacheInfo:
        """Counts and total size of what the cache holds."""
        entries = dirs = blobs = size = 0
        by_codec: dict[str, int] = {}
        for meta in self.root.glob("entries/*/*/meta.json"):
            entries += 1
            try:
                codec = json.loads(meta.read_text())["codec"]
            except (OSError, ValueError, KeyError):
                codec = "unreadable"
            by_codec[codec] = by_codec.get(codec, 0) + 1
        dirs = sum(1 for _ in self.root.glob("dirs/*/*.manifest.json"))
        blobs = sum(1 for _ in self.root.glob("blobs/*/*"))
        for path in self.root.rglob("*"):
            if path.is_file():
                size += path.stat().st_size
        return CacheInfo(self.root, entries, dirs, blobs, size, by_codec)

    def clear(self, keep_blobs: Iterable[str] = ()) -> int:
        """Delete everything in the cache but the blobs named in ``keep_blobs``.

        ``keep_blobs`` are sha256 hashes, e.g. those of the artifacts of stored records. Returns
        how many entries, folders and blobs were deleted.
        """
        keep = set(keep_blobs)
        info = self.info()
        for sub in ("entries", "dirs") if keep else ("entries", "dirs", "blobs"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
        if not keep:
            return info.entries + info.dirs + info.blobs
        removed = 0
        for path in self.root.glob("blobs/*/*"):
            if path.name in keep:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
        for folder in self.root.glob("blobs/*"):
            with contextlib.suppress(OSError):  # only empty folders go
                folder.rmdir()
        return info.entries + info.dirs + removed


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
