"""Automatic level finding: which slice a 2D muscle preset measures on (SPEC 2.1–2.3)."""
