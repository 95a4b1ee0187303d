"""Where the shipped TOML files of `variants/` and `studies/` are found, first match of a name winning.

The working directory's own folder comes first (a user's edits), then the repository's beside the package (an
editable install), then `<prefix>/share/ablate/` (a wheel installs them there; see pyproject.toml's data-files).
"""

from __future__ import annotations

import sys
from pathlib import Path


def shipped_dirs(kind: str) -> list[Path]:
    """The existing folders named `kind` ("variants" or "studies"), in lookup order, without repeats."""
    candidates = (
        Path.cwd() / kind,
        Path(__file__).resolve().parent.parent / kind,
        Path(sys.prefix) / "share" / "ablate" / kind,
    )
    return list(dict.fromkeys(d.resolve() for d in candidates if d.is_dir()))
