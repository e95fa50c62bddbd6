"""Cron schedules (SPEC §3 "Schedules"): each fire time of a schedule becomes exactly one job."""
