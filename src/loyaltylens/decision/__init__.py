"""The online decision chain for one customer: features -> propensity -> offers -> copy (``run_for_customer``)."""
