"""Web pages served by a network: the dashboard and the directory."""
