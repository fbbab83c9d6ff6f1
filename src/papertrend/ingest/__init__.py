"""Getting papers in: the importer (the one path into the store) and the clients that fetch
from remote sources and hand what they parse to it.

    importer.py   validation, identity, merging; import of files and folders
    polite.py     the HTTP client that keeps each remote source's terms across the deployment
    harvest.py    arXiv API, OAI-PMH and Hugging Face pages, resumable through stored cursors
    remote.py     recorded harvest runs: what the CLI's `ingest` and the worker call
    demo.py       the bundled demo corpus

Parsing stays in ``sources`` (pure functions); nothing there imports this package.
"""
