"""search: an order of recency for the full-text index, and cheap keys on SQLite

A search for a very common word ranks only the most recently indexed matches
(`hub.catalog.search.COUNT_CAP`), so the index needs an order it can read newest first
without sorting every match.
- SQLite: the FTS5 rowid is that order (a design's entry is deleted and added again whenever
  it is published or edited). `design_search_keys` maps each rowid to its design: joining it
  costs a fraction of reading design_id through FTS5 for every match a filter must check, and
  lets a reindex delete by rowid instead of scanning the index for an UNINDEXED column.
- PostgreSQL: `design_search.seq` from a sequence, renewed on every reindex, with a b-tree
  index: a common word's matches are read backwards along it and the scan stops after enough
  of them, instead of ranking all.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 11:00:00
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        op.execute("CREATE TABLE design_search_keys (id INTEGER PRIMARY KEY, "
                   "design_id VARCHAR(40) NOT NULL UNIQUE REFERENCES designs (id))")
        op.execute("INSERT INTO design_search_keys (id, design_id) SELECT rowid, design_id FROM design_search")
        return
    # BIGSERIAL numbers the existing rows; reindexing sets seq = DEFAULT (the next value)
    op.execute("ALTER TABLE design_search ADD COLUMN seq BIGSERIAL NOT NULL")
    op.execute("CREATE INDEX ix_design_search_seq ON design_search (seq)")


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        op.execute("DROP TABLE design_search_keys")
        return
    op.execute("DROP INDEX ix_design_search_seq")
    op.execute("ALTER TABLE design_search DROP COLUMN seq")
