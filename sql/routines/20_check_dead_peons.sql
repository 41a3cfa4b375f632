-- Peons silent for longer than DB_SETUP_WAIT_TIME_BEFORE_WORKER_DECLARED_DEAD are
-- OFFLINE, whatever they were doing (IDLE or WORKING), and their tasks go back to the
-- queue at once rather than at the next self-correct tick. OFFLINE peons silent for a
-- week are forgotten, so the table does not fill with every peon that ever ran.
DELIMITER $$
DROP PROCEDURE IF EXISTS wc_check_dead_peons_v1$$
CREATE PROCEDURE wc_check_dead_peons_v1(IN p_caller VARCHAR(255))
BEGIN
    DECLARE n_dead INT DEFAULT 0;

    UPDATE peon
       SET status = 'OFFLINE'
     WHERE status <> 'OFFLINE'
       AND last_heartbeat < NOW(6) - INTERVAL {{ dead_peon_timeout_us }} MICROSECOND;
    SET n_dead = ROW_COUNT();

    IF n_dead > 0 THEN
        INSERT INTO logs (source, message, rows_affected)
        VALUES ('check_dead_peons',
                CONCAT('declared ', n_dead, ' peon(s) OFFLINE: no heartbeat for ',
                       {{ dead_peon_timeout_us }} / 1000000, ' s'),
                n_dead);
        CALL wc_self_correct_tasks_v1(p_caller);
    END IF;

    DELETE FROM peon
     WHERE status = 'OFFLINE'
       AND last_heartbeat < NOW(6) - INTERVAL 7 DAY
       AND NOT EXISTS (SELECT 1 FROM bountyboard AS b
                        WHERE b.status = 'RUNNING' AND b.worker_id = peon.id);

    UPDATE maintenance
       SET last_run_at = NOW(6), last_run_by = p_caller, runs = runs + 1,
           last_event_at = IF(p_caller = 'event', NOW(6), last_event_at)
     WHERE name = 'check_dead_peons';
END$$
