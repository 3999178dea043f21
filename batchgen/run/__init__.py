"""The run room: assembly of a run, the engine (the only task-group owner), render, limits."""
