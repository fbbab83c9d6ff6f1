"""Digests: subscriptions, composing, the outbox and the mailer. Mail is composed without the web app."""
