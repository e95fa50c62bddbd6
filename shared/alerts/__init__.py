"""Alerts on inverters (SPEC §3 Alerts): rules, incidents that open once and resolve once, and their
notifications delivered as jobs of the engine (retries, signing, dead letters)."""
