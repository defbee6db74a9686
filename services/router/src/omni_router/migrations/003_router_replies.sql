-- Agent replies sent with a message id the client chose, so that a retried reply is sent once.
create table router_replies (
    message_id       uuid primary key,
    conversation_id  uuid not null,
    agent_id         text not null,
    at               timestamptz not null default now()
);
