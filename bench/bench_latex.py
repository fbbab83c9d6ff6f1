"""LaTeX in real paper text: how many formulas the shared data has, how many latex2mathml
converts (the rest fall back to escaped text), and what rendering costs.

Renders the title and abstract of every record in tests/fixtures/data with
``latex.render`` (formulas as sanitised MathML), cold (the formula cache empty) and warm
(pages re-rendered after a data change meet the same formulas), against the baseline in the
same process: ``markupsafe.escape`` of the same text, which is what any page pays at least.
Best of REPEATS runs each.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from common import SHARED, describe_machine, print_table
from markupsafe import escape

from papertrend.errors import PapertrendError
from papertrend.mathtext import MATH
from papertrend.models import PaperRecord
from papertrend.sources import input_files, read_path
from papertrend.web import latex

REPEATS = 3


def _texts() -> list[str]:
    """Title and abstract of every record in the shared data (arXiv abstracts carry most formulas)."""
    out = []
    for path in input_files([SHARED]):
        try:
            items = read_path(path)
        except PapertrendError:
            continue   # the recorded HTTP error and other deliberately bad files
        for item in items:
            if isinstance(item, PaperRecord):
                out += [item.title, item.abstract or ""]
    return out


def _best(run: Callable[[], object], before: Callable[[], object] = lambda: None) -> float:
    times = []
    for _ in range(REPEATS):
        before()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    print(describe_machine())
    texts = _texts()
    formulas = [m.group(1) for t in texts for m in MATH.finditer(t)]
    converted = sum(1 for f in set(formulas) if latex.mathml(f) is not None)
    print(f"{len(texts) // 2} papers, {len(formulas)} formulas ({len(set(formulas))} distinct); "
          f"{converted} of the distinct ones convert to MathML, {len(set(formulas)) - converted} fall back to text")
    floor = _best(lambda: [escape(t) for t in texts])
    cold = _best(lambda: [latex.render(t) for t in texts], latex.mathml.cache_clear)
    warm = _best(lambda: [latex.render(t) for t in texts])
    per = 1e6 / len(texts)
    print_table("rendering every title and abstract", ["renderer", "total ms", "µs per text", "× escape"], [
        ["markupsafe.escape (baseline)", f"{floor * 1e3:.1f}", f"{floor * per:.1f}", "1.0"],
        ["latex.render, formula cache cold", f"{cold * 1e3:.1f}", f"{cold * per:.1f}", f"{cold / floor:.1f}"],
        ["latex.render, formula cache warm", f"{warm * 1e3:.1f}", f"{warm * per:.1f}", f"{warm / floor:.1f}"],
    ])


if __name__ == "__main__":
    main()
