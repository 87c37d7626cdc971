"""The closed vocabularies of the loyalty domain, shared by the generator, the features and the model contract.

Order matters: a category's index is its integer code everywhere (feature store, model input, servers).
"""

SEGMENTS: tuple[str, ...] = ("budget", "premium", "family", "horeca")
SEGMENT_SHARES: tuple[float, ...] = (0.40, 0.20, 0.30, 0.10)

# in-store 0 / mobile 1 / web 2 is the documented contract of the propensity model's channel input.
CHANNELS: tuple[str, ...] = ("in_store", "mobile", "web")

PRODUCT_CATEGORIES: tuple[str, ...] = (
    "produce",
    "dairy",
    "bakery",
    "meat_fish",
    "beverages",
    "snacks",
    "household",
    "personal_care",
    "baby",
    "frozen",
)
