"""arXiv's category names (``cs.CL`` -> "Computation and Language"), from the taxonomy file
shipped beside this module, so pages can name categories without asking arXiv."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def category_names() -> dict[str, str]:
    """Every arXiv category code with its name."""
    names = {}
    text = files(__package__).joinpath("arxiv_categories.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, _, name = line.partition("\t")
            names[code] = name
    return names


def category_label(code: str) -> str:
    """``cs.CL — Computation and Language``; an unknown code is shown as it is."""
    name = category_names().get(code)
    return f"{code} — {name}" if name else code
