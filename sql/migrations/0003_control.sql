-- Control over when and how tasks run: expiry, timeouts, cancellation, unique tasks,
-- deleting rows on success, an attempts history, and pausing queues.

ALTER TABLE bountyboard
    -- not started by then: EXPIRED instead of running late
    ADD COLUMN expires_at        DATETIME(6)  NULL AFTER run_at,
    ADD COLUMN timeout_seconds   DOUBLE       NULL,
    -- set by cancel() on a RUNNING task; its peon stops it
    ADD COLUMN cancel_requested  BOOLEAN      NOT NULL DEFAULT FALSE,
    ADD COLUMN delete_on_success BOOLEAN      NOT NULL DEFAULT FALSE,
    -- the peon decided this FAILURE is final (retries used up, an exception the
    -- task does not retry, Discard): the reopen event must leave it alone
    ADD COLUMN retry_stopped     BOOLEAN      NOT NULL DEFAULT FALSE,
    ADD COLUMN unique_key        VARCHAR(255) NULL,
    -- the key while the task is live, NULL after: the unique index below then lets
    -- only one live task per (task_name, key), race-free across any number of senders
    ADD COLUMN unique_live       VARCHAR(255)
        AS (IF(status IN ('PENDING', 'RUNNING'), unique_key, NULL)) STORED,
    ADD UNIQUE KEY ux_unique_live (task_name, unique_live),
    ADD KEY ix_status_expires (status, expires_at);

-- Counters that a row written by hand may push to INT's end: one such row must not
-- make every claim (attempt + 1) or every self-correct tick (requeue_count + 1) fail.
ALTER TABLE bountyboard
    MODIFY COLUMN attempt       BIGINT NOT NULL DEFAULT 0,
    MODIFY COLUMN retry_count   BIGINT NOT NULL DEFAULT 0,
    MODIFY COLUMN requeue_count BIGINT NOT NULL DEFAULT 0,
    ADD CONSTRAINT chk_attempt CHECK (attempt >= 0),
    ADD CONSTRAINT chk_requeue_count CHECK (requeue_count >= 0);

-- Peons now schedule retries themselves (back to PENDING with a run_at); the reopen
-- event only catches failures no peon decided on (written by hand, or stopped after
-- repeated peon deaths).
ALTER TABLE bountyboard
    MODIFY COLUMN retryable TINYINT
        AS (IF(status = 'FAILURE' AND retry_on_failure AND retry_count < retry_limit
               AND NOT retry_stopped, 1, NULL)) STORED;

-- Every failed attempt (the row itself keeps only the last error).
CREATE TABLE IF NOT EXISTS task_attempts (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    task_id     CHAR(36)     CHARACTER SET ascii NOT NULL,
    attempt     INT          NOT NULL,
    worker_id   VARCHAR(255) NULL,
    outcome     VARCHAR(16)  NOT NULL,
    error       MEDIUMTEXT   NULL,
    finished_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    KEY ix_attempts_task (task_id, attempt)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Queues exist by use; a row here only when someone paused one.
CREATE TABLE IF NOT EXISTS queue_state (
    queue      VARCHAR(255) NOT NULL,
    paused     BOOLEAN      NOT NULL DEFAULT FALSE,
    changed_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                            ON UPDATE CURRENT_TIMESTAMP(6),
    changed_by VARCHAR(255) NULL,
    PRIMARY KEY (queue)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
