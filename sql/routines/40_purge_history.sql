-- Deletes finished tasks older than DB_SETUP_RETENTION_SUCCESS_DAYS (SUCCESS) and
-- DB_SETUP_RETENTION_FAILURE_DAYS (FAILURE, INVALID, CANCELLED, EXPIRED); 0 keeps them
-- forever. At most {{ purge_batch }} rows per status and tick, oldest first, so no run
-- holds many locks for long; a backlog drains over several ticks. A failure that may
-- still be retried is never deleted. Attempts and schedule ticks of the same age go too.
DELIMITER $$
DROP PROCEDURE IF EXISTS wc_purge_history_v1$$
CREATE PROCEDURE wc_purge_history_v1(IN p_caller VARCHAR(255))
BEGIN
    DECLARE n_deleted INT DEFAULT 0;

    IF {{ retention_success_us }} > 0 THEN
        DELETE FROM bountyboard
         WHERE finished_status = 'SUCCESS'
           AND finished_at < NOW(6) - INTERVAL {{ retention_success_us }} MICROSECOND
         ORDER BY finished_at LIMIT {{ purge_batch }};
        SET n_deleted = n_deleted + ROW_COUNT();
        DELETE FROM schedule_tick
         WHERE created_at < NOW(6) - INTERVAL {{ retention_success_us }} MICROSECOND
         ORDER BY created_at LIMIT {{ purge_batch }};
    END IF;

    IF {{ retention_failure_us }} > 0 THEN
        -- One DELETE per status, not one with status IN (...): each walks its own
        -- (finished_status, finished_at) range oldest first, where an IN list would sort every
        -- old row of all four statuses to find the oldest batch.
        DELETE FROM bountyboard
         WHERE finished_status = 'FAILURE' AND retryable IS NULL
           AND finished_at < NOW(6) - INTERVAL {{ retention_failure_us }} MICROSECOND
         ORDER BY finished_at LIMIT {{ purge_batch }};
        SET n_deleted = n_deleted + ROW_COUNT();
        DELETE FROM bountyboard
         WHERE finished_status = 'INVALID'
           AND finished_at < NOW(6) - INTERVAL {{ retention_failure_us }} MICROSECOND
         ORDER BY finished_at LIMIT {{ purge_batch }};
        SET n_deleted = n_deleted + ROW_COUNT();
        DELETE FROM bountyboard
         WHERE finished_status = 'CANCELLED'
           AND finished_at < NOW(6) - INTERVAL {{ retention_failure_us }} MICROSECOND
         ORDER BY finished_at LIMIT {{ purge_batch }};
        SET n_deleted = n_deleted + ROW_COUNT();
        DELETE FROM bountyboard
         WHERE finished_status = 'EXPIRED'
           AND finished_at < NOW(6) - INTERVAL {{ retention_failure_us }} MICROSECOND
         ORDER BY finished_at LIMIT {{ purge_batch }};
        SET n_deleted = n_deleted + ROW_COUNT();
        DELETE FROM task_attempts
         WHERE finished_at < NOW(6) - INTERVAL {{ retention_failure_us }} MICROSECOND
         ORDER BY finished_at LIMIT {{ purge_batch }};
    END IF;

    IF n_deleted > 0 THEN
        INSERT INTO logs (source, message, rows_affected)
        VALUES ('purge_history',
                CONCAT('deleted ', n_deleted, ' finished task(s) past their retention'),
                n_deleted);
    END IF;
    UPDATE maintenance
       SET last_run_at = NOW(6), last_run_by = p_caller, runs = runs + 1,
           last_event_at = IF(p_caller = 'event', NOW(6), last_event_at)
     WHERE name = 'purge_history';
END$$
