"""Points: the ledger (the only code that moves points), awards, deeds and adjustments,
rankings, statements, honours, and the figures read from kept totals.
"""
