"""The web app: pages and their JSON twins (app factory in app.py)."""
