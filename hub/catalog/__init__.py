"""Designs and their files: upload, content-addressed storage, analysis on upload."""
