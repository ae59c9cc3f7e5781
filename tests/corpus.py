"""Where the shared design corpus is: $COFAB_CORPUS, or ../shared/corpus beside the checkout.

One place for every test that reads it, so a clean clone with ../shared beside it (as CI runs)
and a machine that points COFAB_CORPUS elsewhere both find it; tests skip with a reason
naming this path where it is absent. Its files are read in place, never copied."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("COFAB_CORPUS") or ROOT.parent / "shared" / "corpus")
