-- A peon claims the one task a wake-up hint named (workcraft/peon.py): the claim's
-- UPDATE and the read of the claimed row in one round trip. The hint arrives while
-- the send's INSERT commits: the UPDATE waits on that row's lock and claims it the
-- moment it commits. The conditions are the queue claim's (store._CLAIM_SELECT),
-- with p_names a JSON array. One row comes back if the task is there, with
-- claimed = 1 if it is now ours (then with its payload); none if it is not there.
-- The procedure commits the claim itself, after that row is sent: the peon starts
-- the task while the COMMIT is made durable, and reads the CALL's last reply (the
-- COMMIT's) afterwards. Call it in autocommit mode, or the caller's own transaction
-- is committed with it.
DELIMITER $$
DROP PROCEDURE IF EXISTS wc_claim_task_v1$$
CREATE PROCEDURE wc_claim_task_v1(
    IN p_id CHAR(36) CHARACTER SET ascii,
    IN p_worker VARCHAR(255),
    IN p_queue VARCHAR(255),
    IN p_names TEXT
)
BEGIN
    DECLARE v_claimed BOOLEAN DEFAULT FALSE;
    -- a lock wait timeout leaves the transaction open: never hand that back
    DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;

    START TRANSACTION;

    -- by the primary key: through a status index it would lock that index's entry
    -- first, the reverse of a queue claim's UPDATE, and the two could deadlock
    UPDATE bountyboard FORCE INDEX (PRIMARY)
       SET status = 'RUNNING', worker_id = p_worker, attempt = attempt + 1,
           started_at = NOW(6), finished_at = NULL
     WHERE id = p_id
       AND status = 'PENDING'
       AND queue = p_queue
       AND run_at <= NOW(6)
       AND JSON_CONTAINS(p_names, JSON_QUOTE(task_name))
       AND (expires_at IS NULL OR expires_at > NOW(6))
       AND NOT EXISTS (SELECT 1 FROM queue_state
                        WHERE queue_state.queue = p_queue AND queue_state.paused);
    SET v_claimed = ROW_COUNT() > 0;
    -- claimed, then the columns of store._CLAIM_COLUMNS in that order
    SELECT v_claimed, id, task_name, queue, IF(v_claimed, payload, NULL), attempt,
           retry_count, retry_limit, retry_on_failure, timeout_seconds, delete_on_success
      FROM bountyboard
     WHERE id = p_id;
    COMMIT;
END$$
