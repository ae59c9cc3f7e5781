"""Matching a job to the nearest online node whose machine can make it, with reasons."""
