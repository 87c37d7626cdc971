"""Serving-side library: request codecs and validation, micro-batching, server processes, TorchServe tooling.

The KServe ``Model`` classes themselves live in the top-level ``serving/`` package and call into this one.
"""
