-- The tasks, the workers and the maintenance log.
--
-- Names (queues, tasks, peons) compare byte for byte (utf8mb4_bin): "Emails" and
-- "emails" are two queues, as they are in the code that sends to them.
-- Times are the database's own clock (NOW(6)), never a host's, so peons on
-- hosts with drifting clocks agree on what "dead" and "due" mean.

CREATE TABLE IF NOT EXISTS peon (
    id             VARCHAR(255) NOT NULL,
    status         ENUM('IDLE', 'PREPARING', 'WORKING', 'OFFLINE') NOT NULL DEFAULT 'PREPARING',
    last_heartbeat DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    current_task   CHAR(36)     CHARACTER SET ascii NULL,
    queues         JSON         NULL,
    host           VARCHAR(255) NOT NULL DEFAULT '',
    pid            INT          NOT NULL DEFAULT 0,
    concurrency    INT          NOT NULL DEFAULT 1,
    pool           VARCHAR(16)  NOT NULL DEFAULT 'thread',
    version        VARCHAR(64)  NOT NULL DEFAULT '',
    started_at     DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    tasks_done     BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    KEY ix_peon_status_heartbeat (status, last_heartbeat)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS bountyboard (
    id               CHAR(36)     CHARACTER SET ascii NOT NULL,
    status           ENUM('PENDING', 'RUNNING', 'SUCCESS', 'FAILURE', 'INVALID',
                          'CANCELLED', 'EXPIRED') NOT NULL DEFAULT 'PENDING',
    created_at       DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                                  ON UPDATE CURRENT_TIMESTAMP(6),
    -- not before this time: delays, ETAs and retry backoff all land here
    run_at           DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    started_at       DATETIME(6)  NULL,
    finished_at      DATETIME(6)  NULL,
    task_name        VARCHAR(255) NOT NULL,
    queue            VARCHAR(255) NOT NULL DEFAULT 'DEFAULT',
    -- higher runs first within a queue; FIFO (run_at, id) within a priority
    priority         INT          NOT NULL DEFAULT 0,
    payload          JSON         NULL,
    result           JSON         NULL,
    error            MEDIUMTEXT   NULL,
    -- the peon that holds (RUNNING) or last held the task
    worker_id        VARCHAR(255) NULL,
    -- bumped by every claim; a peon may only record the outcome of the attempt it
    -- claimed, so a task requeued and re-run elsewhere is never overwritten late
    attempt          INT          NOT NULL DEFAULT 0,
    retry_on_failure BOOLEAN      NOT NULL DEFAULT FALSE,
    retry_count      INT          NOT NULL DEFAULT 0,
    retry_limit      INT          NOT NULL DEFAULT 3,
    -- how often the task went back to PENDING because its peon died under it
    requeue_count    INT          NOT NULL DEFAULT 0,
    -- 1 only for failures that the reopen event will retry, NULL for all history,
    -- so that event reads just those rows however much history is kept
    retryable        TINYINT AS (IF(status = 'FAILURE' AND retry_on_failure
                                    AND retry_count < retry_limit, 1, NULL)) STORED,
    PRIMARY KEY (id),
    -- the claim: one queue's PENDING rows in claim order; finished rows sort
    -- under other statuses, so history never lengthens this range
    KEY ix_claim (status, queue, priority DESC, run_at, id),
    -- lists and pages of one status, newest first (ids are time-ordered); also
    -- finds the few RUNNING rows for the maintenance procedures
    KEY ix_status_id (status, id),
    KEY ix_status_queue_id (status, queue, id),
    KEY ix_retryable (retryable, finished_at),
    CONSTRAINT chk_retry_limit CHECK (retry_limit >= 0),
    CONSTRAINT chk_retry_count CHECK (retry_count >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS logs (
    id            BIGINT       NOT NULL AUTO_INCREMENT,
    created_at    DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    source        VARCHAR(64)  NOT NULL,
    message       TEXT         NOT NULL,
    rows_affected INT          NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    KEY ix_logs_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
