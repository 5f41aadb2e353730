"""Utils: reference data and documents."""
