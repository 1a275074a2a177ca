"""Actions: revocation tickets and alerts, delivered through channels."""
