"""Who may connect (Origin, token) and what must never be shown (secrets)."""
