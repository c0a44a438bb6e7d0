-- Until now writers could UPDATE alerts.rules.predicate, the text evaluation runs, past the
-- checking trigger (issue 14, C2). Whatever a database holds there, the checked condition it
-- was saved with replaces it; from now on rules_checked recomputes it on every change and no
-- user or platform role may write it (sql/85_alerts.sql, rls_policies/alerts.sql).
UPDATE alerts.rules SET predicate = condition WHERE predicate IS DISTINCT FROM condition;
