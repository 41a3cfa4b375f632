-- The database's own scheduler runs the maintenance, so the system heals even when
-- every peon is dead. Events call versioned procedures: a newer setup swaps the
-- procedure an event calls without touching the peons that are running.
--
-- Each run takes a named lock first and skips the tick if the last run still goes on
-- (the scheduler starts a new run on every tick, finished or not), reads at READ
-- COMMITTED like the peons, and gives up on a row lock after 5 s: a stalled client
-- holding one must cost one tick, not pile runs up behind it.
DELIMITER $$
DROP EVENT IF EXISTS wc_check_dead_peons$$
CREATE EVENT wc_check_dead_peons
    ON SCHEDULE EVERY {{ check_dead_peon_interval_s }} SECOND
    ON COMPLETION PRESERVE ENABLE
    COMMENT 'workcraft: declare silent peons OFFLINE and requeue their tasks'
    DO BEGIN
        IF GET_LOCK(CONCAT(DATABASE(), '.wc_check_dead_peons'), 0) = 1 THEN
            SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
            SET SESSION innodb_lock_wait_timeout = 5;
            CALL wc_check_dead_peons_v1('event');
            DO RELEASE_LOCK(CONCAT(DATABASE(), '.wc_check_dead_peons'));
        END IF;
    END$$
DROP EVENT IF EXISTS wc_self_correct_tasks$$
CREATE EVENT wc_self_correct_tasks
    ON SCHEDULE EVERY {{ self_correct_interval_s }} SECOND
    ON COMPLETION PRESERVE ENABLE
    COMMENT 'workcraft: requeue RUNNING tasks that no live peon holds'
    DO BEGIN
        IF GET_LOCK(CONCAT(DATABASE(), '.wc_self_correct_tasks'), 0) = 1 THEN
            SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
            SET SESSION innodb_lock_wait_timeout = 5;
            CALL wc_self_correct_tasks_v1('event');
            DO RELEASE_LOCK(CONCAT(DATABASE(), '.wc_self_correct_tasks'));
        END IF;
    END$$
DROP EVENT IF EXISTS wc_reopen_failed_tasks$$
CREATE EVENT wc_reopen_failed_tasks
    ON SCHEDULE EVERY {{ reopen_failed_interval_s }} SECOND
    ON COMPLETION PRESERVE ENABLE
    COMMENT 'workcraft: retry failed tasks after their backoff'
    DO BEGIN
        IF GET_LOCK(CONCAT(DATABASE(), '.wc_reopen_failed_tasks'), 0) = 1 THEN
            SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
            SET SESSION innodb_lock_wait_timeout = 5;
            CALL wc_reopen_failed_tasks_v1('event');
            DO RELEASE_LOCK(CONCAT(DATABASE(), '.wc_reopen_failed_tasks'));
        END IF;
    END$$
DROP EVENT IF EXISTS wc_purge_history$$
CREATE EVENT wc_purge_history
    ON SCHEDULE EVERY {{ purge_interval_s }} SECOND
    ON COMPLETION PRESERVE ENABLE
    COMMENT 'workcraft: delete finished tasks past their retention, in bounded batches'
    DO BEGIN
        IF GET_LOCK(CONCAT(DATABASE(), '.wc_purge_history'), 0) = 1 THEN
            SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
            SET SESSION innodb_lock_wait_timeout = 5;
            CALL wc_purge_history_v1('event');
            DO RELEASE_LOCK(CONCAT(DATABASE(), '.wc_purge_history'));
        END IF;
    END$$
