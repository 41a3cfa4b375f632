-- Periodic tasks (@app.periodic). One row per schedule, written by each peon at start
-- from the code that declares it; one schedule_tick row per tick that was fired.
--
-- Every time in these two tables is UTC, taken from the database's UTC_TIMESTAMP(6)
-- (never a host's clock, and not NOW(6), which follows the session's time_zone).
-- `timezone` only says how a cron expression reads the wall clock.

CREATE TABLE IF NOT EXISTS schedule (
    name            VARCHAR(255) NOT NULL,
    task_name       VARCHAR(255) NOT NULL,
    queue           VARCHAR(255) NOT NULL DEFAULT 'DEFAULT',
    -- exactly one of cron (five fields, in `timezone`) and every_seconds
    cron            VARCHAR(255) NULL,
    every_seconds   DECIMAL(20, 6) NULL,
    timezone        VARCHAR(64)  NOT NULL DEFAULT 'UTC',
    -- {"task_args": [...], "task_kwargs": {...}}, as in bountyboard.payload
    payload         JSON         NOT NULL,
    -- after downtime: one task for all missed ticks, or none
    misfire         ENUM('run_once', 'skip') NOT NULL DEFAULT 'run_once',
    -- set to 0 by hand to pause; a peon restart keeps that until the code changes
    enabled         BOOLEAN      NOT NULL DEFAULT TRUE,
    -- the next tick to fire (UTC); due when <= UTC_TIMESTAMP(6)
    next_run_at     DATETIME(6)  NOT NULL,
    -- the tick of the last task fired, and that task
    last_run_at     DATETIME(6)  NULL,
    last_task_id    CHAR(36)     CHARACTER SET ascii NULL,
    -- of the definition in code: a peon rewrites the row only when this differs
    definition_hash CHAR(64)     CHARACTER SET ascii NOT NULL,
    created_at      DATETIME(6)  NOT NULL,
    -- when a peon last wrote the definition (not each fire)
    updated_at      DATETIME(6)  NOT NULL,
    PRIMARY KEY (name),
    KEY ix_schedule_due (enabled, next_run_at),
    CONSTRAINT chk_schedule_kind CHECK ((cron IS NULL) <> (every_seconds IS NULL)),
    CONSTRAINT chk_schedule_every CHECK (every_seconds IS NULL OR every_seconds > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The primary key is what makes a tick fire at most once, whatever number of peons
-- on whatever hosts try: the tick row and the task are inserted in one transaction,
-- and a second insert of the same (schedule_name, tick_at) fails.
CREATE TABLE IF NOT EXISTS schedule_tick (
    schedule_name VARCHAR(255) NOT NULL,
    -- the schedule's next_run_at when it fired (UTC); for CAUGHT_UP and SKIPPED the
    -- first of the missed ticks
    tick_at       DATETIME(6)  NOT NULL,
    -- FIRED: on time. CAUGHT_UP: one task for every tick missed up to created_at.
    -- SKIPPED: missed ticks dropped (misfire = 'skip'), no task.
    outcome       ENUM('FIRED', 'CAUGHT_UP', 'SKIPPED') NOT NULL,
    task_id       CHAR(36)     CHARACTER SET ascii NULL,
    -- the peon that fired it
    fired_by      VARCHAR(255) NOT NULL,
    created_at    DATETIME(6)  NOT NULL,
    PRIMARY KEY (schedule_name, tick_at),
    KEY ix_schedule_tick_task (task_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
