"""A virtual fab: fabricated instances of an exported chip, tested with its heater table and recovered in situ."""
