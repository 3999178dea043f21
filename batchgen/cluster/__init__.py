"""batchgen on Ray (the `ray` extra): one manifest across a cluster of worker processes, one rate
limit and one budget per API key, one journal written by the driver. `ray` is imported lazily,
inside this package only, so a default install never loads it."""
