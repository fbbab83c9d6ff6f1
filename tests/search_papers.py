"""Papers of the search tests' corpus (tests/search_corpus.py) that tests look for."""

DAYS = ["2026-06-02", "2026-06-12", "2026-06-18", "2026-06-26", "2026-07-01", "2026-07-08", "2026-07-31"]
LATEX_PAPER = "2606.16396"  # SP$^3$: Spherical Priors for Plug-and-Play Restoration
SPECULATIVE = {"2605.29343", "2605.30852", "2606.12243", "2606.18967", "2606.18394", "2606.31315", "2607.05147",
               "2607.26627"}
