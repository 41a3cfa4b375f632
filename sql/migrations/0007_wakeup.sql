-- Wake-up hints: MySQL has no LISTEN/NOTIFY, so a sender tells idle peons about new
-- work itself, with a UDP datagram after its commit. Each peon publishes where it
-- listens and a random token that a hint must carry: only someone who can read this
-- table (a workcraft client) can wake a peon. A lost hint costs latency, never a
-- task: peons still poll, slowly, as the safety net.
ALTER TABLE peon
    ADD COLUMN wake_addr  VARCHAR(255) NULL,
    ADD COLUMN wake_token CHAR(32)     CHARACTER SET ascii NULL;
