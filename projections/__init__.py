"""Read models built from the ApiKey event log: current key state and audit trail."""
