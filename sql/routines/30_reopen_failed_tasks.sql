-- FAILURE tasks sent with retry_on_failure and retries left go back to PENDING once
-- their backoff has passed: DB_SETUP_BACKOFF_MULTIPLIER_SECONDS * 2^retry_count,
-- capped at DB_SETUP_BACKOFF_MAX_SECONDS (2^40 already passes any cap; the LEAST keeps
-- POW from overflowing for a task retried a thousand times). The last error stays.
DELIMITER $$
DROP PROCEDURE IF EXISTS wc_reopen_failed_tasks_v1$$
CREATE PROCEDURE wc_reopen_failed_tasks_v1(IN p_caller VARCHAR(255))
BEGIN
    DECLARE n_reopened INT DEFAULT 0;

    UPDATE bountyboard
       SET status = 'PENDING',
           retry_count = retry_count + 1,
           worker_id = NULL,
           finished_at = NULL,
           run_at = NOW(6)
     WHERE retryable = 1
       AND finished_at <= NOW(6) - INTERVAL FLOOR(LEAST(
               {{ backoff_multiplier_us }} * POW(2, LEAST(retry_count, 40)),
               {{ backoff_max_us }})) MICROSECOND;
    SET n_reopened = ROW_COUNT();

    IF n_reopened > 0 THEN
        INSERT INTO logs (source, message, rows_affected)
        VALUES ('reopen_failed_tasks',
                CONCAT('reopened ', n_reopened, ' failed task(s) for retry'),
                n_reopened);
    END IF;
    UPDATE maintenance
       SET last_run_at = NOW(6), last_run_by = p_caller, runs = runs + 1,
           last_event_at = IF(p_caller = 'event', NOW(6), last_event_at)
     WHERE name = 'reopen_failed_tasks';
END$$
