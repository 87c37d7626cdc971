"""Chains the stages for one customer (``LoyaltyLensPipeline``) and runs the KFP pipelines locally or on a cluster."""
