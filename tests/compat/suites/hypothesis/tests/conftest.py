import os

from hypothesis import Phase, settings

# COMPAT_REUSE_ONLY=1: only replay the example database; generate nothing new. A failure then
# proves the failing example was saved by the previous run and read back.
settings.register_profile("reuse-only", phases=[Phase.reuse])
if os.environ.get("COMPAT_REUSE_ONLY") == "1":
    settings.load_profile("reuse-only")
