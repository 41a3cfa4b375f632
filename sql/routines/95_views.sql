-- Views for people who watch workcraft from a DB GUI:
--   wc_queue_stats      one row per queue: tasks by status, the oldest due PENDING
--                       task's wait, whether the queue is paused
--   wc_live_peons       peons not yet declared OFFLINE, with their heartbeat's age and
--                       whether it is within DB_SETUP_WAIT_TIME_BEFORE_WORKER_DECLARED_DEAD
--   wc_recent_failures  FAILURE and INVALID tasks of the last 24 hours, newest first,
--                       with the last line of their error
--
-- SQL SECURITY INVOKER: whoever reads a view needs SELECT on the tables under it, as
-- if reading them directly. The views are a convenience, not a privilege boundary:
-- with DEFINER they would read as the setup account (so anyone granted a view could
-- read around their own grants) and would break when that account is dropped. Every
-- runtime account holds SELECT on the whole database anyway.
--
-- Times are the database's clock (NOW(6)), like the columns they are computed from.
-- Counts come from one GROUP BY over the covering index (status, queue, id), then are
-- pivoted per queue: grouping the table by queue directly reads every row instead
-- (seconds, not a tenth of one, at a million rows).
CREATE OR REPLACE SQL SECURITY INVOKER VIEW wc_queue_stats AS
SELECT c.queue,
       SUM(IF(c.status = 'PENDING', c.n, 0)) AS pending,
       SUM(IF(c.status = 'RUNNING', c.n, 0)) AS running,
       SUM(IF(c.status = 'SUCCESS', c.n, 0)) AS success,
       SUM(IF(c.status = 'FAILURE', c.n, 0)) AS failure,
       SUM(IF(c.status = 'INVALID', c.n, 0)) AS invalid,
       SUM(IF(c.status = 'CANCELLED', c.n, 0)) AS cancelled,
       SUM(IF(c.status = 'EXPIRED', c.n, 0)) AS expired,
       (SELECT ROUND(TIMESTAMPDIFF(MICROSECOND, MIN(p.run_at), NOW(6)) / 1e6, 3)
          FROM bountyboard AS p
         WHERE p.pending_queue = c.queue AND p.run_at <= NOW(6))
           AS oldest_pending_seconds,
       EXISTS (SELECT 1 FROM queue_state AS s WHERE s.queue = c.queue AND s.paused) AS paused
  FROM (SELECT queue, status, COUNT(*) AS n FROM bountyboard GROUP BY status, queue) AS c
 GROUP BY c.queue
UNION ALL
SELECT s.queue, 0, 0, 0, 0, 0, 0, 0, NULL, 1
  FROM queue_state AS s
 WHERE s.paused AND NOT EXISTS (SELECT 1 FROM bountyboard AS b WHERE b.queue = s.queue);

CREATE OR REPLACE SQL SECURITY INVOKER VIEW wc_live_peons AS
SELECT id, status, host, pid, queues, concurrency, pool, current_task, tasks_done,
       version, started_at, last_heartbeat,
       ROUND(TIMESTAMPDIFF(MICROSECOND, last_heartbeat, NOW(6)) / 1e6, 3)
           AS heartbeat_age_seconds,
       last_heartbeat >= NOW(6) - INTERVAL {{ dead_peon_timeout_us }} MICROSECOND AS alive
  FROM peon
 WHERE status <> 'OFFLINE';

-- CHAR(10 USING utf8mb4), not '\n': the literal would change meaning on a server
-- running with NO_BACKSLASH_ESCAPES.
CREATE OR REPLACE SQL SECURITY INVOKER VIEW wc_recent_failures AS
SELECT id, task_name, queue, status, finished_at, worker_id, attempt, retry_count,
       SUBSTRING_INDEX(TRIM(TRAILING CHAR(10 USING utf8mb4)
                            FROM REPLACE(error, CHAR(13 USING utf8mb4), '')),
                       CHAR(10 USING utf8mb4), -1) AS error_line
  FROM bountyboard
 WHERE finished_status IN ('FAILURE', 'INVALID') AND finished_at >= NOW(6) - INTERVAL 24 HOUR
 ORDER BY finished_at DESC;
