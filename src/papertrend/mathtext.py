"""Inline LaTeX in paper text made readable as plain Unicode text.

Where markup cannot go (a tab's <title>, a mail's subject and text part, a mail's HTML part,
which most mail clients show without MathML), ``$x^2$`` becomes ``x²``, ``\\alpha`` ``α`` and
``\\emph{word}`` ``word``. Pure text in, text out; escaping is the caller's business. The web's
``latex.render`` uses the same symbols for text that MathML does not cover.
"""

from __future__ import annotations

import re

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
    "&": "&", "_": "_", "#": "#", "$": "$", "{": "{", "}": "}", ",": " ", ";": " ", "quad": " ",
    "qquad": "  ", "langle": "⟨", "rangle": "⟩", "|": "‖", "star": "⋆", "circ": "∘",
    "mathbb{R}": "ℝ", "mathbb{N}": "ℕ", "mathbb{Z}": "ℤ", "mathbb{E}": "𝔼", "mathbb{C}": "ℂ",
}
ARG = r"\{([^{}]*)\}"
STYLE = re.compile(
    r"\\(emph|textit|textbf|mathbf|mathrm|mathcal|mathit|text|texttt|textsc|operatorname|boldsymbol)" + ARG
)
COMMAND = re.compile(r"\\(mathbb\{[RNZEC]\}|[A-Za-z]+|[%_#${},;|&])")
SCRIPT = re.compile(r"([\^_])(?:\{([^{}]*)\}|([A-Za-z0-9*+\-′']))")
# $...$ or $$...$$ (not \$), no space just inside the dollars (so "$5 and $10" is not a formula).
MATH = re.compile(r"(?<!\\)\$\$?([^$\s](?:[^$]{0,400}?[^$\s])?)\$\$?")

_SUP = str.maketrans("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ")
_SUB = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SUP_CHARS, _SUB_CHARS = set("0123456789+-=()ni"), set("0123456789+-=()")


def command(m: re.Match[str]) -> str:
    """A ``\\command`` as its symbol; unknown words stay as written, ``\\%`` loses its backslash."""
    name = m.group(1)
    return SYMBOLS.get(name, m.group(0) if len(name) > 1 else name)


def _script(m: re.Match[str]) -> str:
    body = m.group(2) if m.group(2) is not None else m.group(3)
    if m.group(1) == "^":
        return body.translate(_SUP) if body and set(body) <= _SUP_CHARS else "^" + body
    return body.translate(_SUB) if body and set(body) <= _SUB_CHARS else "_" + body


def _formula(m: re.Match[str]) -> str:
    return SCRIPT.sub(_script, m.group(1)).replace("{", "").replace("}", "")


def plain(text: str | None) -> str:
    """``text`` with its inline LaTeX as Unicode: ``SP$^3$`` -> ``SP³``, ``\\alpha`` -> ``α``."""
    if not text:
        return ""
    for _ in range(3):  # nested \textbf{\emph{..}}
        text = STYLE.sub(lambda m: m.group(2), text)
    text = COMMAND.sub(command, text)
    return MATH.sub(_formula, text)
