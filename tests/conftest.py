"""Test session set-up: compiled kernels go to a fresh cache for the session, so tests
neither read stale kernels nor fill the user's cache."""

import os
import tempfile

_cache = tempfile.mkdtemp(prefix="chaincc-test-cache-")
os.environ.setdefault("CHAINCC_CACHE_DIR", _cache)

# CI runs the same examples every time, so a red run is about the change, not the draw;
# developers' runs keep drawing new ones.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
