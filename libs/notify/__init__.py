"""Notifications for people: which events become which message text, and the rule
that collapses bursts and rate-limits each channel (pure decisions; the notifier
service sends)."""
