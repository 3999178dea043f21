"""The store room: where bytes and state land: the image sink and the journal."""
