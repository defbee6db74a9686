-- SLA clocks: the state per conversation, pending timers, and the outbox of emitted decisions.
create table sla_conversations (
    conversation_id uuid primary key,
    partition       int not null,
    last_offset     bigint not null,      -- the last event applied: a redelivered one is skipped
    state           jsonb not null,
    updated_at      timestamptz not null default now()
);

-- metric: 0 first_response, 1 next_response, 2 resolution; kind: 0 warning, 1 breached
create table sla_timers (
    conversation_id uuid not null,
    metric          smallint not null,
    cycle           int not null,
    kind            smallint not null,
    partition       smallint not null,
    due_at          timestamptz not null,
    clock_due_at    timestamptz not null,
    remaining_us    bigint not null,
    policy          text not null,
    channel         text,
    queue           text,
    primary key (conversation_id, metric, cycle, kind)
);
create index sla_timers_by_partition on sla_timers (partition);

-- One row per published decision. slot 0 is the warning, slot 1 the outcome (met or breached):
-- the primary key makes each (conversation, metric, cycle, kind) happen once, and a clock
-- either met or breached, never both. Rows are written in the transaction that decides them
-- and published after commit; published_at is set once Kafka acknowledged.
create table sla_emitted (
    conversation_id uuid not null,
    metric          smallint not null,
    cycle           int not null,
    slot            smallint not null,
    kind            text not null,
    event_id        uuid not null unique,
    partition       smallint not null,
    payload         bytea not null,
    created_at      timestamptz not null default now(),
    published_at    timestamptz,
    primary key (conversation_id, metric, cycle, slot)
);
create index sla_emitted_unpublished on sla_emitted (partition) where published_at is null;
