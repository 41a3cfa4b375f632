-- Everything setup_database_tables --drop_tables=True removes before rebuilding.
-- Only workcraft's own objects are named: a shared database keeps everything else.
DROP VIEW IF EXISTS wc_queue_stats;
DROP VIEW IF EXISTS wc_live_peons;
DROP VIEW IF EXISTS wc_recent_failures;
DROP EVENT IF EXISTS wc_check_dead_peons;
DROP EVENT IF EXISTS wc_self_correct_tasks;
DROP EVENT IF EXISTS wc_reopen_failed_tasks;
DROP EVENT IF EXISTS wc_purge_history;
DROP PROCEDURE IF EXISTS wc_claim_task_v1;
DROP PROCEDURE IF EXISTS wc_check_dead_peons_v1;
DROP PROCEDURE IF EXISTS wc_self_correct_tasks_v1;
DROP PROCEDURE IF EXISTS wc_reopen_failed_tasks_v1;
DROP PROCEDURE IF EXISTS wc_purge_history_v1;
DROP TABLE IF EXISTS schedule_tick;
DROP TABLE IF EXISTS schedule;
DROP TABLE IF EXISTS queue_state;
DROP TABLE IF EXISTS task_attempts;
DROP TABLE IF EXISTS maintenance;
DROP TABLE IF EXISTS logs;
DROP TABLE IF EXISTS bountyboard;
DROP TABLE IF EXISTS peon;
DROP TABLE IF EXISTS workcraft_schema;
