-- One row per maintenance job: when it last ran and who ran it ('event', or the peon
-- that ran it where events cannot run). last_event_at moves only when the database's
-- own scheduler ran the job, so "the scheduler is on but nothing ticks" can be seen
-- even while peons stand in. The lease columns let exactly one peon at a time stand in.

CREATE TABLE IF NOT EXISTS maintenance (
    name         VARCHAR(64)  NOT NULL,
    last_run_at  DATETIME(6)  NULL,
    last_run_by  VARCHAR(255) NULL,
    runs         BIGINT       NOT NULL DEFAULT 0,
    last_event_at DATETIME(6) NULL,
    lease_owner  VARCHAR(255) NULL,
    lease_until  DATETIME(6)  NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT IGNORE INTO maintenance (name) VALUES
    ('check_dead_peons'), ('self_correct_tasks'), ('reopen_failed_tasks');
