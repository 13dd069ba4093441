"""Scheduled snapshots: when to take them, what to keep (docs/scheduler.md)."""
