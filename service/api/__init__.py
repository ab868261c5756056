"""HTTP API: flask-smorest blueprints, schemas, errors and operator security."""
