"""Accounts: sign-in by emailed link (no password), sessions in a signed cookie, CSRF tokens,
and roles (reader, moderator, admin). The web layer calls these; nothing here knows HTTP."""
