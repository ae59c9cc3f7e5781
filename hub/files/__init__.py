"""Content-addressed file store and the short-lived tokens nodes use to download from it."""
