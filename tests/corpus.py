"""Where the test corpus is: $COFAB_CORPUS, or ../shared/corpus beside the checkout.

The corpus (real files from public repositories, docs/corpus.md) is an optional test input
kept outside the repository. This is the one place every test that reads it looks: a
checkout with the folder beside it and a machine that points COFAB_CORPUS elsewhere both
find it; tests skip with a reason naming this path where it is absent. Its files are read
in place, never copied."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("COFAB_CORPUS") or ROOT.parent / "shared" / "corpus")
