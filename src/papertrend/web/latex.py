"""Inline LaTeX in titles and abstracts, shown cleanly as HTML without any script.

The text is escaped first; only then are our own tags (<sub>, <sup>, <em>, <strong>) added
around pieces of already escaped text, so nothing from a paper can become markup.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π",
    "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Pi": "Π", "Sigma": "Σ", "Phi": "Φ",
    "Psi": "Ψ", "Omega": "Ω", "times": "×", "cdot": "·", "pm": "±", "mp": "∓", "leq": "≤", "le": "≤",
    "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "approx": "≈", "sim": "∼", "simeq": "≃", "propto": "∝",
    "infty": "∞", "to": "→", "rightarrow": "→", "leftarrow": "←", "Rightarrow": "⇒", "mapsto": "↦",
    "in": "∈", "notin": "∉", "subset": "⊂", "subseteq": "⊆", "cup": "∪", "cap": "∩", "forall": "∀",
    "exists": "∃", "partial": "∂", "nabla": "∇", "sum": "∑", "prod": "∏", "int": "∫", "sqrt": "√",
    "ell": "ℓ", "log": "log", "exp": "exp", "ldots": "…", "dots": "…", "cdots": "⋯", "%": "%",
    "&amp;": "&amp;", "_": "_", "#": "#", "$": "$", "{": "{", "}": "}", ",": " ", ";": " ", "quad": " ",
    "qquad": "  ", "langle": "⟨", "rangle": "⟩", "|": "‖", "star": "⋆", "circ": "∘",
    "mathbb{R}": "ℝ", "mathbb{N}": "ℕ", "mathbb{Z}": "ℤ", "mathbb{E}": "𝔼", "mathbb{C}": "ℂ",
}
_ARG = r"\{([^{}]*)\}"
_STYLE = re.compile(
    r"\\(emph|textit|textbf|mathbf|mathrm|mathcal|mathit|text|texttt|textsc|operatorname|boldsymbol)" + _ARG
)
_TAGS = {"emph": "em", "textit": "em", "mathit": "em", "textbf": "strong", "mathbf": "strong", "boldsymbol": "strong"}
_SCRIPT = re.compile(r"([\^_])(?:\{([^{}]*)\}|([A-Za-z0-9*+\-′']))")
_COMMAND = re.compile(r"\\(mathbb\{[RNZEC]\}|[A-Za-z]+|[%_#${},;|]|&amp;)")
_MATH = re.compile(r"(?<!\\)\$\$?([^$\s](?:[^$]{0,400}?[^$\s])?)\$\$?")


def _style(m: re.Match[str]) -> str:
    tag = _TAGS.get(m.group(1))
    return f"<{tag}>{m.group(2)}</{tag}>" if tag else m.group(2)


def _script(m: re.Match[str]) -> str:
    tag = "sup" if m.group(1) == "^" else "sub"
    return f"<{tag}>{m.group(2) if m.group(2) is not None else m.group(3)}</{tag}>"


def _math(m: re.Match[str]) -> str:
    inner = _SCRIPT.sub(_script, m.group(1))
    return inner.replace("{", "").replace("}", "")


def render(text: str | None) -> Markup:
    """Escaped HTML with inline LaTeX made readable: $x^2$, \\emph{word}, \\alpha, 10\\%."""
    if not text:
        return Markup("")
    html = str(escape(text))
    for _ in range(3):  # nested \textbf{\emph{..}}
        html = _STYLE.sub(_style, html)
    html = _COMMAND.sub(lambda m: SYMBOLS.get(m.group(1), m.group(0) if len(m.group(1)) > 1 else m.group(1)), html)
    html = _MATH.sub(_math, html)
    return Markup(html)
