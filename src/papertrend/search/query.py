"""User queries: made safe for FTS5, capped in length, and turned into highlight patterns.

Every word is quoted, so ``C++``, ``"unbalanced`` or ``AND OR NOT`` are searched as words
and can never be a syntax error; a balanced "quoted phrase" stays a phrase.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from markupsafe import Markup, escape

# Words that match most papers: in an OR query they add little to bm25 but make FTS5 score a
# large part of the corpus (seconds at a million papers). Dropped unless the query is only these.
STOPWORDS = frozenset("""a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he
her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
off on once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves via using based towards toward""".split())
# A query that starts like a question asks about an idea, not for a name.
QUESTION_WORDS = frozenset("how what why which when where who whom whose can could does do is are should".split())
# Longer text (a pasted abstract or summary) shares its rare words with the paper it describes:
# words find it best. bench_relevance: meaning weighing more for 15-30 word summaries cost
# conceptual R@1 0.963 -> 0.937 on the tune part.
SENTENCE_WORDS = 12
SENTENCE_WORDS_SEEN = frozenset("""a an the to it its they their them we our you your i my me is are was were be been
can could do does did this that these those which who what how why""".split())
MAX_QUERY_CHARS = 300
MAX_TERMS = 32
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Query:
    text: str                       # what is searched (after capping)
    terms: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    truncated: bool = False
    notice: str | None = None

    @property
    def empty(self) -> bool:
        return not self.terms and not self.phrases

    @property
    def sentence(self) -> bool:
        """True for a sentence or a question of a few words ("making language models cheaper to
        run", "how do diffusion models work?"), False for a name or a phrase ("speculative decoding", "Qwen3
        technical report", a paper's Title In Capitals). A sentence says what it means in its own
        words, which papers need not share, so hybrid search gives meaning places of its own in
        its ranking (``hybrid.Fusion.sentence_from``); a name or a phrase is found by its words."""
        # Words as typed: "text-to-image" is one word, not three with a "to".
        words = [w.strip(".,;:!?()[]\"'") for w in self.text.split()]
        words = [w for w in words if _WORD.search(w)]
        if not words or self.phrases:
            return False
        if self.text.rstrip().endswith("?") or words[0].lower() in QUESTION_WORDS:
            return True
        content = [w for w in words if w.lower() not in STOPWORDS]
        if not 4 <= len(words) <= SENTENCE_WORDS:
            return False
        # Keyword phrases join nouns with "of", "for", "with" ("reinforcement learning with
        # verifiable rewards"); sentences have articles, pronouns, verbs' helpers.
        if not (SENTENCE_WORDS_SEEN & {w.lower() for w in words}) and len(words) - len(content) < 2:
            return False
        # Title Case is a name (most often a paper's title); typed sentences are lower case.
        capitalised = sum(1 for w in content if w[0].isupper())
        return capitalised * 2 < len(content)

    def match(self, mode: str = "any", columns: tuple[str, ...] = ()) -> str:
        """The FTS5 MATCH expression: quoted terms and phrases joined by OR (any) or AND (all),
        optionally limited to some columns."""
        parts = ['"' + " ".join(p) + '"' for p in self.phrases]
        terms = self.terms
        if mode == "any":
            terms = [t for t in terms if t not in STOPWORDS] or terms
        parts += ['"' + t + '"' for t in terms]
        expr = (" AND " if mode == "all" else " OR ").join(parts)
        return f"{{{' '.join(columns)}}} : ({expr})" if columns else expr


def parse(raw: str) -> Query:
    text = " ".join((raw or "").split())
    truncated = len(text) > MAX_QUERY_CHARS
    if truncated:
        text = text[:MAX_QUERY_CHARS].rsplit(" ", 1)[0]
    phrases = []
    rest = text
    if text.count('"') >= 2:
        for m in re.finditer(r'"([^"]+)"', text):
            words = [w.lower() for w in _WORD.findall(m.group(1))]
            if len(words) > 1:
                phrases.append(words)
        rest = re.sub(r'"[^"]+"', " ", text) if phrases else text
    terms = list(dict.fromkeys(w.lower() for w in _WORD.findall(rest)))
    dropped = len(terms) > MAX_TERMS
    terms = terms[:MAX_TERMS]
    notice = None
    if truncated or dropped:
        notice = (f"Your query was long, so only its first {MAX_QUERY_CHARS} characters"
                  f"{f' and {MAX_TERMS} distinct words' if dropped else ''} were searched.")
    return Query(text=text, terms=terms, phrases=phrases, truncated=truncated or dropped, notice=notice)


def _stem(word: str) -> str:
    # Close enough to Porter for highlighting: "decoding" lights up "decode", "decoder".
    return word[: max(4, len(word) - 3)] if len(word) > 5 else word


def word_pattern(query: Query) -> re.Pattern[str] | None:
    """The query's words (and words that share their stem) as one pattern; None for a query
    with no word worth marking."""
    words = set(query.terms) | {w for p in query.phrases for w in p}
    words = {w for w in words if (len(w) > 2 or w.isdigit()) and w not in STOPWORDS} or \
        {w for w in words if len(w) > 2 or w.isdigit()}
    if not words:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(_stem(w)) for w in sorted(words, key=len, reverse=True))
                      + r")\w*", re.IGNORECASE | re.UNICODE)


def highlighter(query: Query) -> Callable[[str], Markup]:
    """``highlight`` for one query, its pattern built once for all the texts of a results page."""
    pattern = word_pattern(query)
    if pattern is None:
        return lambda text: escape(text or "")

    def mark(text: str) -> Markup:
        if not text:
            return escape(text or "")
        out, last = [], 0
        for m in pattern.finditer(text):
            out.append(str(escape(text[last:m.start()])))
            out.append(f"<mark>{escape(m.group(0))}</mark>")
            last = m.end()
        out.append(str(escape(text[last:])))
        return Markup("".join(out))

    return mark


def highlight(text: str, query: Query) -> Markup:
    """``text`` escaped, with words matching the query wrapped in <mark>. Safe by construction:
    the text is escaped first and only our own tags are added around escaped pieces."""
    return highlighter(query)(text)
