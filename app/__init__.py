"""salesdash web app: serves the dashboard page and pushes live totals over websockets."""
