"""Content-addressed cache: safetensors for tensors, JSON for small values, checked on read."""

from interplab.core.cache._cache import Cache as Cache
from interplab.core.cache._cache import CacheCorruptionWarning as CacheCorruptionWarning
from interplab.core.cache._cache import CacheInfo as CacheInfo
from interplab.core.cache._cache import CacheStats as CacheStats

__all__ = ["Cache", "CacheCorruptionWarning", "CacheInfo", "CacheStats"]
