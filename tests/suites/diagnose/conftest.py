"""The diagnose suite: order-dependent failures for `bulkhead repro` and `bulkhead bisect`."""
