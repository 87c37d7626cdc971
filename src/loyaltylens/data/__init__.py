"""Synthetic loyalty data: customers, offers, events, campaigns with hold-out, and the hidden ground truth."""
