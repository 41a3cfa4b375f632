-- History retention: finished rows older than the configured days are deleted by the
-- wc_purge_history event, a bounded batch per tick. This index lets each batch find
-- the oldest finished rows of one status without reading the rest of the history.
ALTER TABLE bountyboard ADD KEY ix_status_finished (status, finished_at);

INSERT IGNORE INTO maintenance (name) VALUES ('purge_history');
