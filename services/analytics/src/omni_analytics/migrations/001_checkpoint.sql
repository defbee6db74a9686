-- The analytics KPI state and the Kafka offsets it reflects, saved together in one row so that
-- a restart resumes exactly: load the state, seek every partition to its saved offset, fold on.
create table if not exists analytics_checkpoint (
    name        text primary key,
    offsets     jsonb not null,
    state       bytea not null,
    events      bigint not null,
    saved_at    timestamptz not null default now()
);
