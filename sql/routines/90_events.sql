-- The database's own scheduler runs the maintenance, so the system heals even when
-- every peon is dead. Events call versioned procedures: a newer setup swaps the
-- procedure an event calls without touching the peons that are running.
DELIMITER $$
DROP EVENT IF EXISTS wc_check_dead_peons$$
CREATE EVENT wc_check_dead_peons
    ON SCHEDULE EVERY {{ check_dead_peon_interval_s }} SECOND
    ON COMPLETION PRESERVE ENABLE
    COMMENT 'workcraft: declare silent peons OFFLINE and requeue their tasks'
    DO CALL wc_check_dead_peons_v1('event')$$
DROP EVENT IF EXISTS wc_self_correct_tasks$$
CREATE EVENT wc_self_correct_tasks
    ON SCHEDULE EVERY {{ self_correct_interval_s }} SECOND
    ON COMPLETION PRESERVE ENABLE
    COMMENT 'workcraft: requeue RUNNING tasks that no live peon holds'
    DO CALL wc_self_correct_tasks_v1('event')$$
DROP EVENT IF EXISTS wc_reopen_failed_tasks$$
CREATE EVENT wc_reopen_failed_tasks
    ON SCHEDULE EVERY {{ reopen_failed_interval_s }} SECOND
    ON COMPLETION PRESERVE ENABLE
    COMMENT 'workcraft: retry failed tasks after their backoff'
    DO CALL wc_reopen_failed_tasks_v1('event')$$
