-- A change made with a management token is recorded with the actor type 'token'.
ALTER TABLE key_events DROP CONSTRAINT IF EXISTS key_events_actor_type_check;
ALTER TABLE key_events ADD CONSTRAINT key_events_actor_type_check
    CHECK (actor_type IN ('user', 'support', 'cli', 'system', 'token'));
