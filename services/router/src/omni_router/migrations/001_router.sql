-- The router's durable record: agents with their loads, conversations, assignment history,
-- handled event ids and the outbox of events not yet acknowledged by Kafka.
create sequence router_change_seq;

create table router_agents (
    agent_id      text primary key,
    display_name  text,
    skills        jsonb not null default '{}',
    languages     text[] not null default '{}',
    cap_email     int not null default 0,
    cap_chat      int not null default 0,
    cap_sms       int not null default 0,
    cap_social    int not null default 0,
    load_email    int not null default 0 check (load_email >= 0),
    load_chat     int not null default 0 check (load_chat >= 0),
    load_sms      int not null default 0 check (load_sms >= 0),
    load_social   int not null default 0 check (load_social >= 0),
    presence      text not null default 'offline' check (presence in ('available', 'busy', 'away', 'offline')),
    version       bigint not null default nextval('router_change_seq'),
    updated_at    timestamptz not null default now()
);
create index router_agents_version on router_agents (version);

create table router_customers (
    address      text primary key,
    customer_id  text not null,
    created_at   timestamptz not null default now()
);

create table router_conversations (
    conversation_id   uuid primary key,
    thread_key        text not null,
    customer_id       text not null,
    channel           text not null,
    state             text not null check (state in ('waiting', 'offered', 'assigned', 'resolved', 'abandoned')),
    queue             text not null,
    priority          int not null default 0,
    skills            jsonb not null default '{}',
    optional_skills   jsonb not null default '{}',
    language          text,
    tier              text,
    rule              text,
    agent_id          text,
    last_agent_id     text,
    declined          text[] not null default '{}',
    offer_expires_at  timestamptz,
    reason            jsonb,
    widening_step     int not null default 0,
    sla_due_at        timestamptz,
    enqueued_at       timestamptz not null,
    opened_at         timestamptz not null,
    assigned_at       timestamptz,
    resolved_at       timestamptz,
    first_message_id  uuid,
    csat_score        int,
    version           bigint not null default nextval('router_change_seq'),
    updated_at        timestamptz not null default now()
);
-- one open conversation per thread, whatever the replica
create unique index router_open_thread on router_conversations (thread_key) where state in ('waiting', 'offered', 'assigned');
create index router_conversations_thread on router_conversations (thread_key, resolved_at desc);
create index router_conversations_customer on router_conversations (customer_id, opened_at desc);
create index router_conversations_version on router_conversations (version);
create index router_conversations_live on router_conversations (state) where state in ('waiting', 'offered', 'assigned');

create table router_assignments (
    id               bigserial primary key,
    conversation_id  uuid not null,
    agent_id         text not null,
    kind             text not null,
    reason           jsonb,
    at               timestamptz not null default now()
);
create index router_assignments_conversation on router_assignments (conversation_id);

create table router_messages (
    message_id       uuid primary key,
    conversation_id  uuid,
    thread_key       text not null,
    auto_reply       boolean not null default false,
    received_at      timestamptz not null
);

create table router_processed (
    event_id  uuid primary key,
    at        timestamptz not null default now()
);

create table router_outbox (
    id          bigserial primary key,
    topic       text not null,
    key         bytea,
    value       bytea not null,
    created_at  timestamptz not null default now()
);
