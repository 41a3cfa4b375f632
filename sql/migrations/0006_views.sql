-- Watching: indexes for the task lists of the CLI views, the dashboard and the SQL
-- views (the views themselves are in sql/routines/95_views.sql: they embed the
-- dead-peon timeout, so every setup re-creates them with the current settings).
--
-- Each list reads newest first along one of these and stops after a page, however
-- much history the table keeps (ids are time-ordered UUIDv7s). Queue, task name and
-- created_at never change after the insert, so these indexes cost a little on insert
-- and delete only, never on the status changes of claims and outcomes.
ALTER TABLE bountyboard
    ADD KEY ix_queue_id (queue, id),
    ADD KEY ix_name_id (task_name, id),
    ADD KEY ix_created (created_at);
