-- A rule that ran out of its time budget is set aside by writing its last_error, which needs its
-- row; a writer who held the row locked (FOR UPDATE in a transaction kept open) kept it from
-- ever being set aside, and every ingest batch ran out all its budgets again (issue 14, found
-- by the noisy-neighbour suite). alerts.set_aside marks such a rule here instead, where no
-- tenant can lock anything: the version of the rule that ran out (its updated_at, which a save
-- changes) and why. Evaluation skips a marked rule; once its row is free the reason moves to
-- last_error (alerts.settle_set_aside). No unique key: two ingest sessions marking one rule at
-- once never wait for each other.
CREATE TABLE alerts.held_aside (
    rule_id          uuid NOT NULL,
    rule_updated_at  timestamptz NOT NULL,
    reason           text NOT NULL,
    set_at           timestamptz NOT NULL DEFAULT now()
);
