-- Every claim and every outcome changes a task's status, and InnoDB moves the entry of
-- every secondary index whose key holds a changed column. Three indexes are re-keyed
-- so that one of a task's two status changes leaves them alone, and one goes
-- (measured: the database's claim-and-finish ceiling 11,300 -> 14,700 rows/s, mariadbd
-- 146 -> 113 us per row; bench/RESULTS.md):
--
-- * the claim reads only PENDING rows, so ix_claim is keyed on the queue while the
--   task is PENDING and NULL after: the outcome no longer moves it;
-- * history is read by finished status and time, so ix_status_finished is keyed on the
--   status once the task has finished and NULL before: the claim no longer moves it;
-- * the reopen event reads the few retryable failures, so ix_retryable holds just that
--   flag: a success (retryable stays NULL) no longer moves it;
-- * (status, id) goes: it moved on both changes, and a status's newest rows across
--   queues are the merge of each queue's newest along (status, queue, id) (store.py).
--
-- Adding stored columns rebuilds the table once (README, "Upgrades").
ALTER TABLE bountyboard
    ADD COLUMN pending_queue VARCHAR(255)
        AS (IF(status = 'PENDING', queue, NULL)) STORED,
    ADD COLUMN finished_status VARCHAR(16) CHARACTER SET ascii
        AS (IF(finished_at IS NULL, NULL, status)) STORED,
    DROP KEY ix_claim,
    ADD KEY ix_claim (pending_queue, priority DESC, run_at, id),
    DROP KEY ix_status_finished,
    ADD KEY ix_status_finished (finished_status, finished_at),
    DROP KEY ix_retryable,
    ADD KEY ix_retryable (retryable),
    DROP KEY ix_status_id;
