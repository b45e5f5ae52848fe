"""A module-level cache that test_order.py's polluter fills and never clears."""
CACHE = {}
