"""Test session set-up: compiled kernels go to a fresh cache for the session, so tests
neither read stale kernels nor fill the user's cache."""

import os
import tempfile

_cache = tempfile.mkdtemp(prefix="chaincc-test-cache-")
os.environ.setdefault("CHAINCC_CACHE_DIR", _cache)
