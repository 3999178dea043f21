"""The manifest room: YAML and the row files it names -> a validated Manifest (manifest.load).

Nothing is imported here: expansion streams a catalog's rows through manifest.rows, and the
loader counts tasks through expansion, so each importer names the module it needs."""
