-- PENDING tasks past their expires_at become EXPIRED. RUNNING tasks that no live
-- peon holds go back to PENDING (their peon died, was
-- declared dead, or never existed). A task whose peon died under it
-- {{ max_peon_deaths_per_task }} times is stopped as FAILURE instead: it is probably what
-- kills them. Set-based and idempotent, so two nodes running it at once is harmless.
DELIMITER $$
DROP PROCEDURE IF EXISTS wc_self_correct_tasks_v1$$
CREATE PROCEDURE wc_self_correct_tasks_v1(IN p_caller VARCHAR(255))
BEGIN
    DECLARE n_failed INT DEFAULT 0;
    DECLARE n_requeued INT DEFAULT 0;
    DECLARE n_expired INT DEFAULT 0;

    -- Kapusta's "overdue": not started by its deadline, so it never starts.
    -- (expires_pending is expires_at while PENDING, else NULL: see 0008.)
    UPDATE bountyboard
       SET status = 'EXPIRED', finished_at = NOW(6)
     WHERE expires_pending <= NOW(6);
    SET n_expired = ROW_COUNT();

    -- Single-table UPDATEs with NOT EXISTS: a multi-table UPDATE ... LEFT JOIN makes
    -- the server build a temporary table on every tick.
    UPDATE bountyboard AS b
       SET b.error = CONCAT('stopped: its peon died ', b.requeue_count + 1,
                            ' times while running it (DB_SETUP_MAX_PEON_DEATHS_PER_TASK = ',
                            {{ max_peon_deaths_per_task }}, '); last peon: ',
                            COALESCE(b.worker_id, 'none')),
           b.status = 'FAILURE',
           b.finished_at = NOW(6),
           b.requeue_count = b.requeue_count + 1
     WHERE b.status = 'RUNNING'
       AND b.requeue_count + 1 >= {{ max_peon_deaths_per_task }}
       AND NOT EXISTS (SELECT 1 FROM peon AS p
                        WHERE p.id = b.worker_id AND p.status <> 'OFFLINE');
    SET n_failed = ROW_COUNT();

    UPDATE bountyboard AS b
       SET b.status = 'PENDING',
           b.requeue_count = b.requeue_count + 1,
           b.worker_id = NULL
     WHERE b.status = 'RUNNING'
       AND NOT EXISTS (SELECT 1 FROM peon AS p
                        WHERE p.id = b.worker_id AND p.status <> 'OFFLINE');
    SET n_requeued = ROW_COUNT();

    IF n_requeued > 0 THEN
        INSERT INTO logs (source, message, rows_affected)
        VALUES ('self_correct_tasks',
                CONCAT('returned ', n_requeued, ' RUNNING task(s) with no live peon to PENDING'),
                n_requeued);
    END IF;
    IF n_failed > 0 THEN
        INSERT INTO logs (source, message, rows_affected)
        VALUES ('self_correct_tasks',
                CONCAT('stopped ', n_failed, ' task(s) as FAILURE: their peon died ',
                       {{ max_peon_deaths_per_task }}, ' times under them'),
                n_failed);
    END IF;
    IF n_expired > 0 THEN
        INSERT INTO logs (source, message, rows_affected)
        VALUES ('self_correct_tasks',
                CONCAT('expired ', n_expired, ' task(s) not started by their deadline'),
                n_expired);
    END IF;
    UPDATE maintenance
       SET last_run_at = NOW(6), last_run_by = p_caller, runs = runs + 1,
           last_event_at = IF(p_caller = 'event', NOW(6), last_event_at)
     WHERE name = 'self_correct_tasks';
END$$
