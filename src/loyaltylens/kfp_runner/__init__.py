"""Compile the KFP pipelines, run them locally with ``kfp.local`` or submit them to a KFP backend."""
