"""MILON's digits job as a Flower ServerApp/ClientApp (benchmark only, never shipped)."""
