-- Customer identities scoped to their channel (omni_router.domain.identity): e-mail addresses and
-- E.164 phone numbers stay as they are; any other address (a LINE, Telegram, X, Messenger or
-- web chat id) becomes `<channel>:<id>`, the channel taken from the customer's first conversation.
update router_customers rc
   set address = first.channel || ':' || rc.address
  from (select distinct on (customer_id) customer_id, channel
          from router_conversations
         order by customer_id, opened_at) first
 where first.customer_id = rc.customer_id
   and rc.address !~ '^\+[1-9][0-9]{6,14}$'
   and rc.address !~ '^[^@[:space:]:]+@[^@[:space:]]+$'
   and rc.address !~ '^[a-z][a-z0-9_]{0,31}:';
