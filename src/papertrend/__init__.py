"""papertrend: gather research papers, rank what is trending and say why, search, and mail digests."""
