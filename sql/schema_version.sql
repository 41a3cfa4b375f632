-- Which numbered migrations from sql/migrations/ this database has. Created before
-- anything else so that setup can tell a fresh database from an older one.
CREATE TABLE IF NOT EXISTS workcraft_schema (
    version         INT          NOT NULL,
    name            VARCHAR(255) NOT NULL,
    package_version VARCHAR(64)  NOT NULL,
    applied_at      DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (version)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
