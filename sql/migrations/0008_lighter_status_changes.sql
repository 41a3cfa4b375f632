-- Every claim and every outcome changes a task's status, and every index that holds
-- the status moves an entry with it. The expiry index needs only the PENDING rows
-- that can expire: keyed on a column that is NULL for all the others, its entries of
-- a task without an expiry never move at all.
ALTER TABLE bountyboard
    ADD COLUMN expires_pending DATETIME(6)
        AS (IF(status = 'PENDING', expires_at, NULL)) STORED,
    ADD KEY ix_expires_pending (expires_pending),
    DROP KEY ix_status_expires;
