-- chainlake's schema after every migration, normalized: regenerate with `make schema`.
-- Made by pg_dump of PostgreSQL 15; objects sorted by schema, name and type.

-- Roles

ALTER ROLE chainlake_alerts WITH NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;
ALTER ROLE chainlake_api SET idle_in_transaction_session_timeout TO '30000ms';
ALTER ROLE chainlake_api SET lock_timeout TO '2000ms';
ALTER ROLE chainlake_api SET statement_timeout TO '30000ms';
ALTER ROLE chainlake_api WITH NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;
ALTER ROLE chainlake_authenticated WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
ALTER ROLE chainlake_definer WITH NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
ALTER ROLE chainlake_evaluator WITH NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
ALTER ROLE chainlake_ingest WITH NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;
ALTER ROLE chainlake_runner WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;
ALTER ROLE chainlake_users WITH NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
ALTER ROLE chainlake_watchdog WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE chainlake_alerts;
CREATE ROLE chainlake_api;
CREATE ROLE chainlake_authenticated;
CREATE ROLE chainlake_definer;
CREATE ROLE chainlake_evaluator;
CREATE ROLE chainlake_ingest;
CREATE ROLE chainlake_runner;
CREATE ROLE chainlake_users;
CREATE ROLE chainlake_watchdog;
GRANT chainlake_authenticated TO chainlake_api GRANTED BY postgres;
GRANT chainlake_users TO chainlake_authenticated GRANTED BY postgres;
GRANT chainlake_users TO chainlake_runner GRANTED BY postgres;
GRANT pg_read_all_stats TO chainlake_watchdog GRANTED BY postgres;
GRANT pg_signal_backend TO chainlake_watchdog GRANTED BY postgres;

--
-- Name: SCHEMA alerts; Type: ACL; Schema: -; Owner: postgres
--

GRANT USAGE ON SCHEMA alerts TO chainlake_alerts;
GRANT USAGE ON SCHEMA alerts TO chainlake_definer;
GRANT USAGE ON SCHEMA alerts TO chainlake_evaluator;
GRANT USAGE ON SCHEMA alerts TO chainlake_ingest;
GRANT USAGE ON SCHEMA alerts TO chainlake_users;

--
-- Name: SCHEMA audit; Type: ACL; Schema: -; Owner: postgres
--

GRANT USAGE ON SCHEMA audit TO chainlake_api;
GRANT USAGE ON SCHEMA audit TO chainlake_definer;
GRANT USAGE ON SCHEMA audit TO chainlake_users;

--
-- Name: SCHEMA catalog; Type: ACL; Schema: -; Owner: postgres
--

GRANT USAGE ON SCHEMA catalog TO chainlake_definer;
GRANT USAGE ON SCHEMA catalog TO chainlake_runner;
GRANT USAGE ON SCHEMA catalog TO chainlake_users;

--
-- Name: SCHEMA chain; Type: ACL; Schema: -; Owner: postgres
--

GRANT USAGE ON SCHEMA chain TO chainlake_definer;
GRANT USAGE ON SCHEMA chain TO chainlake_evaluator;
GRANT USAGE ON SCHEMA chain TO chainlake_ingest;
GRANT USAGE ON SCHEMA chain TO chainlake_users;

--
-- Name: SCHEMA core; Type: ACL; Schema: -; Owner: postgres
--

GRANT USAGE ON SCHEMA core TO chainlake_alerts;
GRANT USAGE ON SCHEMA core TO chainlake_api;
GRANT USAGE ON SCHEMA core TO chainlake_definer;
GRANT USAGE ON SCHEMA core TO chainlake_users;
GRANT USAGE ON SCHEMA core TO chainlake_watchdog;

--
-- Name: SCHEMA jobs; Type: ACL; Schema: -; Owner: postgres
--

GRANT USAGE ON SCHEMA jobs TO chainlake_api;
GRANT USAGE ON SCHEMA jobs TO chainlake_definer;
GRANT USAGE ON SCHEMA jobs TO chainlake_runner;
GRANT USAGE ON SCHEMA jobs TO chainlake_users;

--
-- Name: SCHEMA pii; Type: ACL; Schema: -; Owner: postgres
--

GRANT USAGE ON SCHEMA pii TO chainlake_definer;
GRANT USAGE ON SCHEMA pii TO chainlake_users;

--
-- Name: SCHEMA runs; Type: ACL; Schema: -; Owner: postgres
--

GRANT USAGE ON SCHEMA runs TO chainlake_definer;
GRANT USAGE ON SCHEMA runs TO chainlake_runner;
GRANT USAGE ON SCHEMA runs TO chainlake_users;

--
-- Name: alerts; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA alerts;


ALTER SCHEMA alerts OWNER TO postgres;

--
-- Name: audit; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA audit;


ALTER SCHEMA audit OWNER TO postgres;

--
-- Name: catalog; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA catalog;


ALTER SCHEMA catalog OWNER TO postgres;

--
-- Name: chain; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA chain;


ALTER SCHEMA chain OWNER TO postgres;

--
-- Name: chainlake_meta; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA chainlake_meta;


ALTER SCHEMA chainlake_meta OWNER TO postgres;

--
-- Name: core; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA core;


ALTER SCHEMA core OWNER TO postgres;

--
-- Name: jobs; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA jobs;


ALTER SCHEMA jobs OWNER TO postgres;

--
-- Name: pii; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA pii;


ALTER SCHEMA pii OWNER TO postgres;

--
-- Name: runs; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA runs;


ALTER SCHEMA runs OWNER TO postgres;

--
-- Name: COLUMN channels.config; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT(config),UPDATE(config) ON TABLE alerts.channels TO chainlake_users;

--
-- Name: COLUMN channels.created_at; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT(created_at),UPDATE(created_at) ON TABLE alerts.channels TO chainlake_users;

--
-- Name: COLUMN channels.created_by; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT(created_by),UPDATE(created_by) ON TABLE alerts.channels TO chainlake_users;

--
-- Name: COLUMN channels.id; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT(id),UPDATE(id) ON TABLE alerts.channels TO chainlake_users;

--
-- Name: COLUMN channels.kind; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT(kind),UPDATE(kind) ON TABLE alerts.channels TO chainlake_users;

--
-- Name: COLUMN channels.name; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT(name),UPDATE(name) ON TABLE alerts.channels TO chainlake_users;

--
-- Name: COLUMN channels.org_id; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT(org_id),UPDATE(org_id) ON TABLE alerts.channels TO chainlake_users;

--
-- Name: COLUMN channels.secret_enc; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT UPDATE(secret_enc) ON TABLE alerts.channels TO chainlake_users;

--
-- Name: COLUMN channels.target; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT(target),UPDATE(target) ON TABLE alerts.channels TO chainlake_users;

--
-- Name: COLUMN rules.chain_id; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(chain_id),UPDATE(chain_id) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.channels; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(channels),UPDATE(channels) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.condition; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(condition),UPDATE(condition) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.confirmation; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(confirmation),UPDATE(confirmation) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.dataset; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(dataset),UPDATE(dataset) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.dedup_key; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(dedup_key),UPDATE(dedup_key) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.description; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(description),UPDATE(description) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.enabled; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(enabled),UPDATE(enabled) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.group_by; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(group_by),UPDATE(group_by) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.name; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(name),UPDATE(name) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.org_id; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(org_id),UPDATE(org_id) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.severity; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(severity),UPDATE(severity) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.throttle_seconds; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(throttle_seconds),UPDATE(throttle_seconds) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: COLUMN rules.window_blocks; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT(window_blocks),UPDATE(window_blocks) ON TABLE alerts.rules TO chainlake_users;

--
-- Name: FUNCTION active_orgs(); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.active_orgs() FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.active_orgs() TO chainlake_ingest;

--
-- Name: FUNCTION active_rules(p_org uuid); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.active_rules(p_org uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.active_rules(p_org uuid) TO chainlake_ingest;

--
-- Name: FUNCTION amplifies(p_function oid); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.amplifies(p_function oid) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.amplifies(p_function oid) TO chainlake_api;
GRANT ALL ON FUNCTION alerts.amplifies(p_function oid) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.amplifies(p_function oid) TO chainlake_ingest;
GRANT ALL ON FUNCTION alerts.amplifies(p_function oid) TO chainlake_users;

--
-- Name: FUNCTION announce(p_firing_id uuid, p_event text); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.announce(p_firing_id uuid, p_event text) FROM PUBLIC;

--
-- Name: FUNCTION backtest(p_org text, p_rule text, p_chain_id bigint, p_from bigint, p_to bigint, p_deliver boolean); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.backtest(p_org text, p_rule text, p_chain_id bigint, p_from bigint, p_to bigint, p_deliver boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.backtest(p_org text, p_rule text, p_chain_id bigint, p_from bigint, p_to bigint, p_deliver boolean) TO chainlake_users;

--
-- Name: FUNCTION channel_destinations(p_kind text, p_target text, p_config jsonb); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.channel_destinations(p_kind text, p_target text, p_config jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.channel_destinations(p_kind text, p_target text, p_config jsonb) TO chainlake_alerts;
GRANT ALL ON FUNCTION alerts.channel_destinations(p_kind text, p_target text, p_config jsonb) TO chainlake_api;
GRANT ALL ON FUNCTION alerts.channel_destinations(p_kind text, p_target text, p_config jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.channel_destinations(p_kind text, p_target text, p_config jsonb) TO chainlake_users;

--
-- Name: FUNCTION channel_name(p_org_id uuid); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.channel_name(p_org_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.channel_name(p_org_id uuid) TO chainlake_api;
GRANT ALL ON FUNCTION alerts.channel_name(p_org_id uuid) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.channel_name(p_org_id uuid) TO chainlake_ingest;
GRANT ALL ON FUNCTION alerts.channel_name(p_org_id uuid) TO chainlake_users;

--
-- Name: FUNCTION check_channel_destinations(); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.check_channel_destinations() FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.check_channel_destinations() TO chainlake_definer;

--
-- Name: FUNCTION check_condition(p_dataset text, p_condition text, p_group_by text[], p_windowed boolean); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.check_condition(p_dataset text, p_condition text, p_group_by text[], p_windowed boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.check_condition(p_dataset text, p_condition text, p_group_by text[], p_windowed boolean) TO chainlake_api;
GRANT ALL ON FUNCTION alerts.check_condition(p_dataset text, p_condition text, p_group_by text[], p_windowed boolean) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.check_condition(p_dataset text, p_condition text, p_group_by text[], p_windowed boolean) TO chainlake_ingest;
GRANT ALL ON FUNCTION alerts.check_condition(p_dataset text, p_condition text, p_group_by text[], p_windowed boolean) TO chainlake_users;

--
-- Name: FUNCTION check_condition_text(p_condition text); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.check_condition_text(p_condition text) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.check_condition_text(p_condition text) TO chainlake_api;
GRANT ALL ON FUNCTION alerts.check_condition_text(p_condition text) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.check_condition_text(p_condition text) TO chainlake_ingest;
GRANT ALL ON FUNCTION alerts.check_condition_text(p_condition text) TO chainlake_users;

--
-- Name: FUNCTION check_definition(r alerts.rules); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.check_definition(r alerts.rules) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.check_definition(r alerts.rules) TO chainlake_api;
GRANT ALL ON FUNCTION alerts.check_definition(r alerts.rules) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.check_definition(r alerts.rules) TO chainlake_ingest;
GRANT ALL ON FUNCTION alerts.check_definition(r alerts.rules) TO chainlake_users;

--
-- Name: FUNCTION check_growth(p_tree text); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.check_growth(p_tree text) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.check_growth(p_tree text) TO chainlake_api;
GRANT ALL ON FUNCTION alerts.check_growth(p_tree text) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.check_growth(p_tree text) TO chainlake_ingest;
GRANT ALL ON FUNCTION alerts.check_growth(p_tree text) TO chainlake_users;

--
-- Name: FUNCTION check_rule(); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.check_rule() FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.check_rule() TO chainlake_definer;

--
-- Name: FUNCTION dataset_shape(p_dataset text, OUT tbl text, OUT num text, OUT row_key text); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.dataset_shape(p_dataset text, OUT tbl text, OUT num text, OUT row_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.dataset_shape(p_dataset text, OUT tbl text, OUT num text, OUT row_key text) TO chainlake_api;
GRANT ALL ON FUNCTION alerts.dataset_shape(p_dataset text, OUT tbl text, OUT num text, OUT row_key text) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.dataset_shape(p_dataset text, OUT tbl text, OUT num text, OUT row_key text) TO chainlake_evaluator;
GRANT ALL ON FUNCTION alerts.dataset_shape(p_dataset text, OUT tbl text, OUT num text, OUT row_key text) TO chainlake_ingest;
GRANT ALL ON FUNCTION alerts.dataset_shape(p_dataset text, OUT tbl text, OUT num text, OUT row_key text) TO chainlake_users;

--
-- Name: FUNCTION delete_rule(p_org text, p_name text); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.delete_rule(p_org text, p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.delete_rule(p_org text, p_name text) TO chainlake_users;

--
-- Name: FUNCTION evaluate(p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_org uuid, p_rule uuid); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.evaluate(p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_org uuid, p_rule uuid) FROM PUBLIC;

--
-- Name: FUNCTION evaluate_each(p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_simple boolean, p_org uuid, p_rule uuid); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.evaluate_each(p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_simple boolean, p_org uuid, p_rule uuid) FROM PUBLIC;

--
-- Name: FUNCTION evaluate_platform(); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.evaluate_platform() FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.evaluate_platform() TO chainlake_alerts;

--
-- Name: FUNCTION evaluate_rule(r alerts.rules, p_chain_id bigint, p_from bigint, p_to bigint, p_backtest boolean, p_source text); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.evaluate_rule(r alerts.rules, p_chain_id bigint, p_from bigint, p_to bigint, p_backtest boolean, p_source text) FROM PUBLIC;

--
-- Name: FUNCTION evaluate_simple(p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_org uuid, p_rule uuid); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.evaluate_simple(p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_org uuid, p_rule uuid) FROM PUBLIC;

--
-- Name: FUNCTION evaluated_shape(p_dataset text, p_source text, OUT tbl text, OUT num text, OUT row_key text, OUT blocks text); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.evaluated_shape(p_dataset text, p_source text, OUT tbl text, OUT num text, OUT row_key text, OUT blocks text) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.evaluated_shape(p_dataset text, p_source text, OUT tbl text, OUT num text, OUT row_key text, OUT blocks text) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.evaluated_shape(p_dataset text, p_source text, OUT tbl text, OUT num text, OUT row_key text, OUT blocks text) TO chainlake_evaluator;

--
-- Name: FUNCTION events_after(p_org text, p_after timestamp with time zone, p_limit integer); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.events_after(p_org text, p_after timestamp with time zone, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.events_after(p_org text, p_after timestamp with time zone, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.events_after(p_org text, p_after timestamp with time zone, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION growing_functions(p_multiplying boolean); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.growing_functions(p_multiplying boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.growing_functions(p_multiplying boolean) TO chainlake_api;
GRANT ALL ON FUNCTION alerts.growing_functions(p_multiplying boolean) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.growing_functions(p_multiplying boolean) TO chainlake_ingest;
GRANT ALL ON FUNCTION alerts.growing_functions(p_multiplying boolean) TO chainlake_users;

--
-- Name: FUNCTION held_aside_ids(); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.held_aside_ids() FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.held_aside_ids() TO chainlake_definer;

--
-- Name: FUNCTION install_system_rules(); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.install_system_rules() FROM PUBLIC;

--
-- Name: FUNCTION is_simple(r alerts.rules); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.is_simple(r alerts.rules) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.is_simple(r alerts.rules) TO chainlake_definer;

--
-- Name: FUNCTION list_channels(); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.list_channels() FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.list_channels() TO chainlake_users;

--
-- Name: FUNCTION list_rules(p_after text, p_limit integer); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.list_rules(p_after text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.list_rules(p_after text, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.list_rules(p_after text, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION match_health(p_predicate text, p_rows alerts.platform_health_row[]); Type: ACL; Schema: alerts; Owner: chainlake_evaluator
--

REVOKE ALL ON FUNCTION alerts.match_health(p_predicate text, p_rows alerts.platform_health_row[]) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.match_health(p_predicate text, p_rows alerts.platform_health_row[]) TO chainlake_definer;

--
-- Name: FUNCTION match_rows(p_dataset text, p_predicate text, p_dedup_key text[], p_chain_id bigint, p_from bigint, p_to bigint, p_source text); Type: ACL; Schema: alerts; Owner: chainlake_evaluator
--

REVOKE ALL ON FUNCTION alerts.match_rows(p_dataset text, p_predicate text, p_dedup_key text[], p_chain_id bigint, p_from bigint, p_to bigint, p_source text) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.match_rows(p_dataset text, p_predicate text, p_dedup_key text[], p_chain_id bigint, p_from bigint, p_to bigint, p_source text) TO chainlake_definer;

--
-- Name: FUNCTION match_simple(p_dataset text, p_predicates text[], p_chain_id bigint, p_from bigint, p_to bigint); Type: ACL; Schema: alerts; Owner: chainlake_evaluator
--

REVOKE ALL ON FUNCTION alerts.match_simple(p_dataset text, p_predicates text[], p_chain_id bigint, p_from bigint, p_to bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.match_simple(p_dataset text, p_predicates text[], p_chain_id bigint, p_from bigint, p_to bigint) TO chainlake_definer;

--
-- Name: FUNCTION match_window(p_dataset text, p_predicate text, p_group_by text[], p_window integer, p_chain_id bigint, p_ending bigint, p_source text); Type: ACL; Schema: alerts; Owner: chainlake_evaluator
--

REVOKE ALL ON FUNCTION alerts.match_window(p_dataset text, p_predicate text, p_group_by text[], p_window integer, p_chain_id bigint, p_ending bigint, p_source text) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.match_window(p_dataset text, p_predicate text, p_group_by text[], p_window integer, p_chain_id bigint, p_ending bigint, p_source text) TO chainlake_definer;

--
-- Name: FUNCTION notice_channels(p_org text); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.notice_channels(p_org text) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.notice_channels(p_org text) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.notice_channels(p_org text) TO chainlake_users;

--
-- Name: FUNCTION on_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_old_finalized bigint, p_finalized bigint, p_org uuid, p_rule uuid); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.on_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_old_finalized bigint, p_finalized bigint, p_org uuid, p_rule uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.on_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_old_finalized bigint, p_finalized bigint, p_org uuid, p_rule uuid) TO chainlake_ingest;

--
-- Name: FUNCTION platform_health(); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.platform_health() FROM PUBLIC;

--
-- Name: FUNCTION platform_overview(); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.platform_overview() FROM PUBLIC;

--
-- Name: FUNCTION probe_condition(p_dataset text, p_compiled regprocedure); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.probe_condition(p_dataset text, p_compiled regprocedure) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.probe_condition(p_dataset text, p_compiled regprocedure) TO chainlake_api;
GRANT ALL ON FUNCTION alerts.probe_condition(p_dataset text, p_compiled regprocedure) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.probe_condition(p_dataset text, p_compiled regprocedure) TO chainlake_ingest;
GRANT ALL ON FUNCTION alerts.probe_condition(p_dataset text, p_compiled regprocedure) TO chainlake_users;

--
-- Name: FUNCTION recent_firings(p_org text, p_rule text, p_limit integer); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.recent_firings(p_org text, p_rule text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.recent_firings(p_org text, p_rule text, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.recent_firings(p_org text, p_rule text, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION record_attempt(p_msg_id bigint, p_delivery_id uuid, p_error text, p_max_attempts integer, p_retry_seconds integer); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.record_attempt(p_msg_id bigint, p_delivery_id uuid, p_error text, p_max_attempts integer, p_retry_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.record_attempt(p_msg_id bigint, p_delivery_id uuid, p_error text, p_max_attempts integer, p_retry_seconds integer) TO chainlake_alerts;

--
-- Name: FUNCTION retract_above(p_chain_id bigint, p_fork bigint); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.retract_above(p_chain_id bigint, p_fork bigint) FROM PUBLIC;

--
-- Name: FUNCTION safe_depth(); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.safe_depth() FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.safe_depth() TO chainlake_api;
GRANT ALL ON FUNCTION alerts.safe_depth() TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.safe_depth() TO chainlake_ingest;
GRANT ALL ON FUNCTION alerts.safe_depth() TO chainlake_users;

--
-- Name: FUNCTION save_channel(p_org text, p_name text, p_kind text, p_target text, p_config jsonb, p_secret_enc bytea); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.save_channel(p_org text, p_name text, p_kind text, p_target text, p_config jsonb, p_secret_enc bytea) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.save_channel(p_org text, p_name text, p_kind text, p_target text, p_config jsonb, p_secret_enc bytea) TO chainlake_users;

--
-- Name: FUNCTION save_rule(p_org text, p_name text, p_spec jsonb); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.save_rule(p_org text, p_name text, p_spec jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.save_rule(p_org text, p_name text, p_spec jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.save_rule(p_org text, p_name text, p_spec jsonb) TO chainlake_users;

--
-- Name: FUNCTION set_aside(p_org uuid, p_rule uuid, p_blocks bigint, p_error text, p_took_ms integer); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.set_aside(p_org uuid, p_rule uuid, p_blocks bigint, p_error text, p_took_ms integer) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.set_aside(p_org uuid, p_rule uuid, p_blocks bigint, p_error text, p_took_ms integer) TO chainlake_ingest;

--
-- Name: FUNCTION set_enabled(p_org text, p_name text, p_enabled boolean); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.set_enabled(p_org text, p_name text, p_enabled boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.set_enabled(p_org text, p_name text, p_enabled boolean) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.set_enabled(p_org text, p_name text, p_enabled boolean) TO chainlake_users;

--
-- Name: FUNCTION settle_set_aside(); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.settle_set_aside() FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.settle_set_aside() TO chainlake_ingest;

--
-- Name: FUNCTION take_deliveries(p_limit integer, p_lease_seconds integer); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.take_deliveries(p_limit integer, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.take_deliveries(p_limit integer, p_lease_seconds integer) TO chainlake_alerts;

--
-- Name: FUNCTION take_fair_deliveries(p_limit integer, p_per_org integer, p_lease_seconds integer, p_busy jsonb); Type: ACL; Schema: alerts; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION alerts.take_fair_deliveries(p_limit integer, p_per_org integer, p_lease_seconds integer, p_busy jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.take_fair_deliveries(p_limit integer, p_per_org integer, p_lease_seconds integer, p_busy jsonb) TO chainlake_alerts;

--
-- Name: FUNCTION text_array(p_value jsonb); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.text_array(p_value jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.text_array(p_value jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.text_array(p_value jsonb) TO chainlake_users;

--
-- Name: FUNCTION throttled(r alerts.rules, p_dedup_value text, p_backtest boolean); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.throttled(r alerts.rules, p_dedup_value text, p_backtest boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.throttled(r alerts.rules, p_dedup_value text, p_backtest boolean) TO chainlake_definer;

--
-- Name: FUNCTION time_budget_ms(p_scope text, p_blocks bigint); Type: ACL; Schema: alerts; Owner: postgres
--

REVOKE ALL ON FUNCTION alerts.time_budget_ms(p_scope text, p_blocks bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION alerts.time_budget_ms(p_scope text, p_blocks bigint) TO chainlake_api;
GRANT ALL ON FUNCTION alerts.time_budget_ms(p_scope text, p_blocks bigint) TO chainlake_definer;
GRANT ALL ON FUNCTION alerts.time_budget_ms(p_scope text, p_blocks bigint) TO chainlake_ingest;
GRANT ALL ON FUNCTION alerts.time_budget_ms(p_scope text, p_blocks bigint) TO chainlake_users;

--
-- Name: TABLE channels; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT INSERT ON TABLE alerts.channels TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE alerts.channels TO chainlake_definer;

--
-- Name: TABLE deliveries; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT ON TABLE alerts.deliveries TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE alerts.deliveries TO chainlake_definer;

--
-- Name: TABLE firings; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT ON TABLE alerts.firings TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE alerts.firings TO chainlake_definer;

--
-- Name: TABLE held_aside; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE alerts.held_aside TO chainlake_definer;

--
-- Name: TABLE rules; Type: ACL; Schema: alerts; Owner: postgres
--

GRANT SELECT ON TABLE alerts.rules TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE alerts.rules TO chainlake_definer;

--
-- Name: active_orgs(); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.active_orgs() RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT DISTINCT org_id FROM alerts.rules
    WHERE enabled AND last_error IS NULL AND dataset LIKE 'chain.%'
      AND id <> ALL ((SELECT alerts.held_aside_ids())::uuid[]) ORDER BY 1
$$;


ALTER FUNCTION alerts.active_orgs() OWNER TO chainlake_definer;

--
-- Name: active_rules(uuid); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.active_rules(p_org uuid) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT id FROM alerts.rules
    WHERE org_id = p_org AND enabled AND last_error IS NULL AND dataset LIKE 'chain.%'
      AND id <> ALL ((SELECT alerts.held_aside_ids())::uuid[]) ORDER BY 1
$$;


ALTER FUNCTION alerts.active_rules(p_org uuid) OWNER TO chainlake_definer;

--
-- Name: amplifies(oid); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.amplifies(p_function oid) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_proc f
        WHERE f.oid = p_function
          AND (f.proname IN ('repeat', 'lpad', 'rpad', 'format', 'array_fill', 'factorial',
                             'numeric_fac', 'numeric_power', 'numeric_exp', 'string_agg',
                             'array_agg', 'xmlagg', 'json_agg', 'jsonb_agg', 'json_object_agg',
                             'jsonb_object_agg')
               OR f.oid::regprocedure::text IN ('power(numeric,numeric)', 'pow(numeric,numeric)',
                                               'exp(numeric)')))
$$;


ALTER FUNCTION alerts.amplifies(p_function oid) OWNER TO postgres;

--
-- Name: announce(uuid, text); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.announce(p_firing_id uuid, p_event text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    f alerts.firings;
    channel text;
    delivery uuid;
BEGIN
    SELECT * INTO f FROM alerts.firings WHERE id = p_firing_id;
    PERFORM pg_notify(alerts.channel_name(f.org_id),
                      json_build_object('firing', f.id, 'event', p_event)::text);
    IF f.backtest THEN
        RETURN;
    END IF;
    FOR channel IN SELECT unnest(r.channels) FROM alerts.rules r
                   WHERE r.org_id = f.org_id AND r.id = f.rule_id LOOP
        INSERT INTO alerts.deliveries (org_id, firing_id, channel, event)
        VALUES (f.org_id, f.id, channel, p_event)
        ON CONFLICT DO NOTHING RETURNING id INTO delivery;
        IF delivery IS NOT NULL THEN
            PERFORM pgmq.send('alert_deliveries',
                              jsonb_build_object('delivery_id', delivery, 'org_id', f.org_id));
            PERFORM pg_notify('alert_deliveries', '');  -- wakes the delivery worker
        END IF;
    END LOOP;
END
$$;


ALTER FUNCTION alerts.announce(p_firing_id uuid, p_event text) OWNER TO chainlake_definer;

--
-- Name: backtest(text, text, bigint, bigint, bigint, boolean); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.backtest(p_org text, p_rule text, p_chain_id bigint, p_from bigint, p_to bigint, p_deliver boolean DEFAULT false) RETURNS SETOF alerts.firings
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    r alerts.rules;
    fired uuid;
BEGIN
    SELECT rl.* INTO r FROM alerts.rules rl JOIN core.orgs o ON o.id = rl.org_id
    WHERE o.name = p_org AND rl.name = p_rule
      AND (rl.org_id = ANY (core.caller_org_ids(CASE WHEN p_deliver THEN 'write' ELSE 'read' END::core.access))
           OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user));
    IF r.id IS NULL THEN
        RAISE EXCEPTION 'no alert rule "%" in org "%" that you may %', p_rule, p_org,
            CASE WHEN p_deliver THEN 'deliver' ELSE 'read' END USING ERRCODE = '42704';
    END IF;
    FOR fired IN SELECT * FROM alerts.evaluate_rule(r, p_chain_id, p_from, p_to, NOT p_deliver,
                                                    'backtest') LOOP
        IF p_deliver THEN
            PERFORM alerts.announce(fired, 'fired');
        END IF;
        RETURN QUERY SELECT * FROM alerts.firings WHERE id = fired;
    END LOOP;
END
$$;


ALTER FUNCTION alerts.backtest(p_org text, p_rule text, p_chain_id bigint, p_from bigint, p_to bigint, p_deliver boolean) OWNER TO chainlake_definer;

--
-- Name: channel_destinations(text, text, jsonb); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.channel_destinations(p_kind text, p_target text, p_config jsonb) RETURNS TABLE(field text, host text, port integer, problem text)
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
    SELECT 'target', u.host, u.port, u.problem
    FROM core.split_url(p_target) u WHERE p_kind IN ('webhook', 'slack')
    UNION ALL
    SELECT 'config.base_url', u.host, u.port, u.problem
    FROM core.split_url(p_config ->> 'base_url') u
    WHERE p_kind = 'sms' AND p_config ? 'base_url'
    UNION ALL
    SELECT 'config.host', core.normal_host(coalesce(p_config ->> 'host', '127.0.0.1')),
           CASE WHEN coalesce(p_config ->> 'port', '25') ~ '^[0-9]{1,5}$'
                THEN coalesce(p_config ->> 'port', '25')::integer END,
           CASE WHEN coalesce(p_config ->> 'port', '25') !~ '^[0-9]{1,5}$'
                THEN format('config.port "%s" is not a port (1 to 65535)', p_config ->> 'port') END
    WHERE p_kind = 'email'
$_$;


ALTER FUNCTION alerts.channel_destinations(p_kind text, p_target text, p_config jsonb) OWNER TO postgres;

--
-- Name: channel_name(uuid); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.channel_name(p_org_id uuid) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT 'alerts_' || replace(p_org_id::text, '-', '')
$$;


ALTER FUNCTION alerts.channel_name(p_org_id uuid) OWNER TO postgres;

--
-- Name: channels; Type: ROW SECURITY; Schema: alerts; Owner: postgres
--

ALTER TABLE alerts.channels ENABLE ROW LEVEL SECURITY;

--
-- Name: channels; Type: TABLE; Schema: alerts; Owner: postgres
--

CREATE TABLE alerts.channels (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    target text NOT NULL,
    config jsonb DEFAULT '{}'::jsonb NOT NULL,
    secret_enc bytea,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT channels_kind CHECK ((kind = ANY (ARRAY['webhook'::text, 'email'::text, 'sms'::text, 'slack'::text]))),
    CONSTRAINT channels_name_format CHECK ((name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'::text))
);

ALTER TABLE ONLY alerts.channels FORCE ROW LEVEL SECURITY;


ALTER TABLE alerts.channels OWNER TO postgres;

--
-- Name: channels channels_audited; Type: TRIGGER; Schema: alerts; Owner: postgres
--

CREATE TRIGGER channels_audited AFTER INSERT OR DELETE OR UPDATE ON alerts.channels FOR EACH ROW EXECUTE FUNCTION core.audit_config_change('alert.channel', 'name');

--
-- Name: channels channels_created_by_fkey; Type: FK CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.channels
    ADD CONSTRAINT channels_created_by_fkey FOREIGN KEY (created_by) REFERENCES core.users(id) ON DELETE SET NULL;

--
-- Name: channels channels_destinations_checked; Type: TRIGGER; Schema: alerts; Owner: postgres
--

CREATE TRIGGER channels_destinations_checked BEFORE INSERT OR UPDATE ON alerts.channels FOR EACH ROW EXECUTE FUNCTION alerts.check_channel_destinations();

--
-- Name: channels channels_name_key; Type: CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.channels
    ADD CONSTRAINT channels_name_key UNIQUE (org_id, name);

--
-- Name: channels channels_org_id_fkey; Type: FK CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.channels
    ADD CONSTRAINT channels_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: channels channels_pkey; Type: CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.channels
    ADD CONSTRAINT channels_pkey PRIMARY KEY (org_id, id);

--
-- Name: channels channels_stamp_creator; Type: TRIGGER; Schema: alerts; Owner: postgres
--

CREATE TRIGGER channels_stamp_creator BEFORE INSERT OR UPDATE ON alerts.channels FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');

--
-- Name: channels members read their orgs rows; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON alerts.channels FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: channels the platform's definer functions; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON alerts.channels TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: channels writers add rows to their orgs; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "writers add rows to their orgs" ON alerts.channels FOR INSERT TO chainlake_users WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: channels writers change their orgs rows; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "writers change their orgs rows" ON alerts.channels FOR UPDATE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: channels writers delete their orgs rows; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "writers delete their orgs rows" ON alerts.channels FOR DELETE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: check_channel_destinations(); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.check_channel_destinations() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    d record;
    why text;
BEGIN
    FOR d IN SELECT * FROM alerts.channel_destinations(NEW.kind, NEW.target, NEW.config) LOOP
        why := coalesce(d.problem, core.egress_refusal(d.host, d.port));
        IF why IS NOT NULL THEN
            RAISE EXCEPTION 'channel "%": %: refused: %', NEW.name, d.field, why
                USING ERRCODE = '22023',
                HINT = 'a channel reaches public addresses only, never the platform''s own services; the operator may allow an exact host:port (docs/alerts.md)';
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;


ALTER FUNCTION alerts.check_channel_destinations() OWNER TO postgres;

--
-- Name: check_condition(text, text, text[], boolean); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.check_condition(p_dataset text, p_condition text, p_group_by text[], p_windowed boolean) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    shape record;
    body text;
    -- a name nobody can guess or plant beforehand (the session's temp schema is the caller's),
    -- and the function found by its exact signature, never by name alone
    compiled constant text := 'chainlake_condition_' || md5(gen_random_uuid()::text);
    fn regprocedure;
    bad record;
    grouping text := '';
BEGIN
    shape := alerts.dataset_shape(p_dataset);
    PERFORM alerts.check_condition_text(p_condition);
    IF cardinality(p_group_by) > 0 THEN
        IF NOT p_windowed THEN
            RAISE EXCEPTION 'group_by: grouping needs a window (window_blocks)'
                USING ERRCODE = '22023';
        END IF;
        grouping := ' GROUP BY ' || (SELECT string_agg(format('%I', g), ', ') FROM unnest(p_group_by) g);
    END IF;
    BEGIN
        EXECUTE format(
            'CREATE FUNCTION pg_temp.%I(t %s) RETURNS boolean LANGUAGE sql '
            'STABLE RETURN (SELECT (%s)::boolean FROM (SELECT (t).*) AS t%s)',
            compiled, shape.tbl, p_condition, grouping);
    EXCEPTION
        WHEN undefined_column THEN
            RAISE EXCEPTION 'condition: % in %', SQLERRM, p_dataset USING ERRCODE = '22023',
                HINT = format('its columns: %s', (
                    SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_catalog.pg_attribute
                    WHERE attrelid = shape.tbl::regclass AND attnum > 0 AND NOT attisdropped));
        WHEN syntax_error THEN
            RAISE EXCEPTION 'condition: does not parse: %', SQLERRM USING ERRCODE = '22023';
        WHEN others THEN
            RAISE EXCEPTION 'condition: %', SQLERRM USING ERRCODE = '22023';
    END;
    fn := pg_catalog.to_regprocedure(format('pg_temp.%I(%s)', compiled, shape.tbl));
    SELECT p.prosqlbody::text INTO body FROM pg_catalog.pg_proc p
    WHERE p.oid = fn AND p.pronamespace = pg_catalog.pg_my_temp_schema();
    IF body IS NULL THEN
        RAISE EXCEPTION 'condition: could not be compiled for checking' USING ERRCODE = '22023';
    END IF;
    IF body ~ 'SQLVALUEFUNCTION' THEN
        RAISE EXCEPTION 'condition: may not read the clock or the session (current_timestamp, current_user, ...)'
            USING ERRCODE = '22023';
    END IF;
    IF body ~ ':relid [1-9]' OR (SELECT count(*) FROM regexp_matches(body, ':subLinkType', 'g')) > 1 THEN
        RAISE EXCEPTION 'condition: may not read other tables or use subqueries'
            USING ERRCODE = '22023', HINT = format('use only the columns of %s', p_dataset);
    END IF;
    FOR bad IN
        SELECT DISTINCT f.oid::regprocedure AS called, f.provolatile, f.prokind
        FROM regexp_matches(body, ':(?:[a-z]*funcid|aggfnoid|winfnoid) ([0-9]+)', 'g') m
        JOIN pg_catalog.pg_proc f ON f.oid = m[1]::oid
        WHERE f.provolatile <> 'i' OR f.prokind = 'w' OR f.proretset
           OR (f.prokind = 'a' AND NOT p_windowed)
           OR f.pronamespace <> 'pg_catalog'::regnamespace
           OR alerts.amplifies(f.oid)
    LOOP
        RAISE EXCEPTION 'condition: may not call %', bad.called USING ERRCODE = '22023',
            HINT = CASE WHEN bad.prokind = 'a' AND NOT p_windowed THEN 'aggregates need a window (window_blocks)'
                        WHEN alerts.amplifies(bad.called::oid) THEN 'its cost is not bounded by the row''s size, and conditions run in every ingest batch'
                        ELSE 'only pure built-in functions of the row''s values (no side effects, clock or settings)' END;
    END LOOP;
    PERFORM alerts.check_growth(body);
    PERFORM alerts.probe_condition(p_dataset, fn);
    -- (a refusal above drops the function with everything else the statement did)
    EXECUTE format('DROP FUNCTION %s', fn);
END
$$;


ALTER FUNCTION alerts.check_condition(p_dataset text, p_condition text, p_group_by text[], p_windowed boolean) OWNER TO postgres;

--
-- Name: check_condition_text(text); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.check_condition_text(p_condition text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    bare text;
    depth integer := 0;
    ch text;
BEGIN
    IF coalesce(btrim(p_condition), '') = '' THEN
        RAISE EXCEPTION 'condition: empty' USING ERRCODE = '22023',
            HINT = 'write a predicate over the dataset''s columns, e.g. value > 1000000000000000000';
    END IF;
    IF length(p_condition) > 2000 THEN  -- its cost per row grows with it: keep it a predicate
        RAISE EXCEPTION 'condition: % characters, at most 2000', length(p_condition)
            USING ERRCODE = '22023';
    END IF;
    IF p_condition ~ '(^|[^a-zA-Z0-9_''])[eE]''' OR p_condition ~ '(^|[^a-zA-Z0-9_])[uU]&'
       OR p_condition ~ '\$' THEN
        RAISE EXCEPTION 'condition: escape strings, unicode escapes and $ are not allowed'
            USING ERRCODE = '22023';
    END IF;
    IF position(';' IN p_condition) > 0 THEN  -- anywhere, even in a string: never a statement
        RAISE EXCEPTION 'condition: one expression only (no ";")' USING ERRCODE = '22023';
    END IF;
    -- strings and quoted identifiers in one left-to-right pass (a quote inside the other kind
    -- is just a character)
    bare := regexp_replace(p_condition, '''([^'']|'''')*''|"([^"]|"")*"', '''''', 'g');
    IF bare ~ '(--|/\*)' THEN
        RAISE EXCEPTION 'condition: one expression only (no ";" and no comments)'
            USING ERRCODE = '22023';
    END IF;
    FOREACH ch IN ARRAY regexp_split_to_array(bare, '') LOOP
        depth := depth + CASE ch WHEN '(' THEN 1 WHEN ')' THEN -1 ELSE 0 END;
        IF depth < 0 THEN
            RAISE EXCEPTION 'condition: unbalanced ")"' USING ERRCODE = '22023';
        END IF;
    END LOOP;
    IF depth <> 0 THEN
        RAISE EXCEPTION 'condition: unbalanced "("' USING ERRCODE = '22023';
    END IF;
END
$_$;


ALTER FUNCTION alerts.check_condition_text(p_condition text) OWNER TO postgres;

--
-- Name: check_definition(alerts.rules); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.check_definition(r alerts.rules) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$  -- compiles as whoever saves
DECLARE
    shape record;
    col text;
BEGIN
    shape := alerts.dataset_shape(r.dataset);
    IF r.dataset = 'platform.health' AND NOT coalesce(
        (SELECT system FROM core.orgs WHERE id = r.org_id), false) THEN
        RAISE EXCEPTION 'dataset: platform.health rules belong to the system org'
            USING ERRCODE = '42501';
    END IF;
    IF r.dataset = 'platform.health' AND r.window_blocks IS NOT NULL THEN
        RAISE EXCEPTION 'window_blocks: platform.health rules are row rules'
            USING ERRCODE = '22023';
    END IF;
    FOREACH col IN ARRAY r.dedup_key || r.group_by LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                       WHERE attrelid = shape.tbl::regclass AND attname = col AND attnum > 0
                         AND NOT attisdropped) THEN
            RAISE EXCEPTION 'column "%" of dedup_key or group_by is not a column of %', col,
                r.dataset USING ERRCODE = '22023';
        END IF;
    END LOOP;
    FOREACH col IN ARRAY r.channels LOOP
        IF NOT EXISTS (SELECT 1 FROM alerts.channels
                       WHERE org_id = r.org_id AND name = col) THEN
            RAISE EXCEPTION 'channels: "%" is not a channel of this org', col
                USING ERRCODE = '22023',
                HINT = 'create it first: chainlake alert channel create NAME --kind webhook|email|sms|slack';
        END IF;
    END LOOP;
    PERFORM alerts.check_condition(r.dataset, r.condition, r.group_by,
                                   r.window_blocks IS NOT NULL);
END
$$;


ALTER FUNCTION alerts.check_definition(r alerts.rules) OWNER TO postgres;

--
-- Name: check_growth(text); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.check_growth(p_tree text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    growing constant oid[] := alerts.growing_functions(false);
    multiplying constant oid[] := alerts.growing_functions(true);
    node text[];
    depth integer := 0;
    open_at integer[] := '{}';  -- the depth of each growing call still open, innermost last
    open_fn oid[] := '{}';
    fn oid;
BEGIN
    FOR node IN
        SELECT regexp_matches(regexp_replace(p_tree, '\\.', '', 'g'),
            '(\{)(?:[A-Z_]+(?: :(?:funcid|opno [0-9]+ :opfuncid) ([0-9]+))?)?|(\})', 'g')
    LOOP
        IF node[3] IS NOT NULL THEN  -- a node closes
            IF open_at[cardinality(open_at)] = depth THEN
                open_at := trim_array(open_at, 1);
                open_fn := trim_array(open_fn, 1);
            END IF;
            depth := depth - 1;
            CONTINUE;
        END IF;
        depth := depth + 1;
        fn := node[2]::oid;
        CONTINUE WHEN fn IS NULL OR NOT fn = ANY (growing);
        IF cardinality(open_fn) >= 2 OR (fn = ANY (multiplying) AND open_fn && multiplying) THEN
            RAISE EXCEPTION 'condition: % inside %: each may multiply its input''s size',
                fn::regprocedure, open_fn[cardinality(open_fn)]::regprocedure
                USING ERRCODE = '22023',
                HINT = 'its cost compounds with each level, and conditions run in every ingest batch: at most two such functions inside each other, one of replace, regexp_replace, array_to_string and concat_ws';
        END IF;
        open_at := open_at || depth;
        open_fn := open_fn || fn;
    END LOOP;
END
$$;


ALTER FUNCTION alerts.check_growth(p_tree text) OWNER TO postgres;

--
-- Name: check_rule(); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.check_rule() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    changed boolean := TG_OP = 'INSERT';
BEGIN
    IF NOT changed THEN
        changed := (NEW.dataset, NEW.condition, NEW.channels, NEW.dedup_key, NEW.group_by,
                    NEW.window_blocks, NEW.org_id)
                   IS DISTINCT FROM (OLD.dataset, OLD.condition, OLD.channels, OLD.dedup_key,
                                     OLD.group_by, OLD.window_blocks, OLD.org_id);
    END IF;
    IF changed THEN
        PERFORM alerts.check_definition(NEW);
        NEW.last_error := NULL;  -- a changed rule is evaluated again
        NEW.updated_at := now();
    END IF;
    NEW.predicate := NEW.condition;
    RETURN NEW;
END
$$;


ALTER FUNCTION alerts.check_rule() OWNER TO postgres;

--
-- Name: dataset_shape(text); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.dataset_shape(p_dataset text, OUT tbl text, OUT num text, OUT row_key text) RETURNS record
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    CASE p_dataset
        WHEN 'chain.transactions' THEN
            tbl := 'chain.transactions'; num := 'block_number';
            row_key := 'encode(t.hash, ''hex'')';
        WHEN 'chain.logs' THEN
            tbl := 'chain.logs'; num := 'block_number';
            row_key := 'encode(t.transaction_hash, ''hex'') || '':'' || t.log_index';
        WHEN 'chain.blocks' THEN
            tbl := 'chain.blocks'; num := 'number'; row_key := 'encode(t.hash, ''hex'')';
        WHEN 'platform.health' THEN  -- system alerts (alerts.platform_health)
            tbl := 'alerts.platform_health_row'; num := NULL;
            row_key := 't.metric || '':'' || t.subject';
        ELSE
            RAISE EXCEPTION 'dataset: alerts watch chain.transactions, chain.logs, chain.blocks or (the system org) platform.health, not "%"',
                p_dataset USING ERRCODE = '22023';
    END CASE;
END
$$;


ALTER FUNCTION alerts.dataset_shape(p_dataset text, OUT tbl text, OUT num text, OUT row_key text) OWNER TO postgres;

--
-- Name: delete_rule(text, text); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.delete_rule(p_org text, p_name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    DELETE FROM alerts.rules WHERE org_id = core.member_org(p_org) AND name = p_name
      AND org_id = ANY (core.caller_org_ids('write'));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no alert rule "%" in org "%" that you may delete', p_name, p_org
            USING ERRCODE = '42704';
    END IF;
END
$$;


ALTER FUNCTION alerts.delete_rule(p_org text, p_name text) OWNER TO chainlake_definer;

--
-- Name: deliveries; Type: ROW SECURITY; Schema: alerts; Owner: postgres
--

ALTER TABLE alerts.deliveries ENABLE ROW LEVEL SECURITY;

--
-- Name: deliveries; Type: TABLE; Schema: alerts; Owner: postgres
--

CREATE TABLE alerts.deliveries (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    firing_id uuid NOT NULL,
    channel text NOT NULL,
    event text NOT NULL,
    state text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    delivered_at timestamp with time zone,
    CONSTRAINT deliveries_event CHECK ((event = ANY (ARRAY['fired'::text, 'retracted'::text, 'cleared'::text]))),
    CONSTRAINT deliveries_state CHECK ((state = ANY (ARRAY['pending'::text, 'delivered'::text, 'dead'::text])))
);

ALTER TABLE ONLY alerts.deliveries FORCE ROW LEVEL SECURITY;


ALTER TABLE alerts.deliveries OWNER TO postgres;

--
-- Name: deliveries deliveries_once; Type: CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.deliveries
    ADD CONSTRAINT deliveries_once UNIQUE (firing_id, channel, event);

--
-- Name: deliveries deliveries_org_id_fkey; Type: FK CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.deliveries
    ADD CONSTRAINT deliveries_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: deliveries deliveries_pkey; Type: CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (org_id, id);

--
-- Name: deliveries members read their orgs rows; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON alerts.deliveries FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: deliveries the platform's definer functions; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON alerts.deliveries TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: evaluate(bigint, bigint, bigint, text, uuid, uuid); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.evaluate(p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_org uuid DEFAULT NULL::uuid, p_rule uuid DEFAULT NULL::uuid) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    ds text;
    fired uuid;
    n integer := 0;
    fallback boolean := false;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_from > p_to THEN
        RETURN 0;
    END IF;
    FOR ds IN SELECT DISTINCT r.dataset FROM alerts.rules r
              WHERE r.enabled AND r.last_error IS NULL AND r.confirmation = p_level
                AND r.id <> ALL ((SELECT alerts.held_aside_ids())::uuid[])
                AND r.dataset LIKE 'chain.%' AND alerts.is_simple(r)
                AND (p_org IS NULL OR r.org_id = p_org) AND (p_rule IS NULL OR r.id = p_rule) LOOP
        BEGIN
            FOR fired IN SELECT * FROM alerts.evaluate_simple(ds, p_chain_id, p_from, p_to,
                                                              p_level, p_org, p_rule) LOOP
                PERFORM alerts.announce(fired, 'fired');
                n := n + 1;
            END LOOP;
        EXCEPTION WHEN others THEN
            fallback := true;
        END;
    END LOOP;
    IF fallback THEN
        n := n + alerts.evaluate_each(p_chain_id, p_from, p_to, p_level, true, p_org, p_rule);
    END IF;
    RETURN n + alerts.evaluate_each(p_chain_id, p_from, p_to, p_level, false, p_org, p_rule);
END
$$;


ALTER FUNCTION alerts.evaluate(p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_org uuid, p_rule uuid) OWNER TO chainlake_definer;

--
-- Name: evaluate_each(bigint, bigint, bigint, text, boolean, uuid, uuid); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.evaluate_each(p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_simple boolean, p_org uuid DEFAULT NULL::uuid, p_rule uuid DEFAULT NULL::uuid) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    r alerts.rules;
    fired uuid;
    n integer := 0;
BEGIN
    FOR r IN SELECT * FROM alerts.rules
             WHERE enabled AND last_error IS NULL AND confirmation = p_level
               AND id <> ALL ((SELECT alerts.held_aside_ids())::uuid[])
               AND dataset LIKE 'chain.%' AND (chain_id IS NULL OR chain_id = p_chain_id)
               AND alerts.is_simple(rules) = p_simple
               AND (p_org IS NULL OR org_id = p_org) AND (p_rule IS NULL OR id = p_rule) LOOP
        BEGIN
            FOR fired IN SELECT * FROM alerts.evaluate_rule(r, p_chain_id, p_from, p_to) LOOP
                PERFORM alerts.announce(fired, 'fired');
                n := n + 1;
            END LOOP;
        EXCEPTION WHEN others THEN
            PERFORM alerts.set_aside(r.org_id, r.id, p_to - p_from + 1, SQLERRM);
        END;
    END LOOP;
    RETURN n;
END
$$;


ALTER FUNCTION alerts.evaluate_each(p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_simple boolean, p_org uuid, p_rule uuid) OWNER TO chainlake_definer;

--
-- Name: evaluate_platform(); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.evaluate_platform() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    health constant alerts.platform_health_row[] := ARRAY(SELECT h FROM alerts.platform_health() h);
    r alerts.rules;
    fired uuid;
    n integer := 0;
    minute bigint := floor(extract(epoch FROM now()) / 60)::bigint;
BEGIN
    FOR r IN SELECT * FROM alerts.rules
             WHERE enabled AND last_error IS NULL AND dataset = 'platform.health'
               AND id <> ALL ((SELECT alerts.held_aside_ids())::uuid[]) LOOP
        BEGIN
            FOR fired IN
                INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block,
                                            block_hash, match_key, dedup_value, vals)
                SELECT r.org_id, r.id, 0, minute, minute, '\x'::bytea,
                       t.metric || ':' || t.subject || '@' || minute, t.metric || ':' || t.subject,
                       to_jsonb(t)
                FROM alerts.match_health(r.predicate, health) t
                WHERE NOT EXISTS (
                    SELECT 1 FROM alerts.firings f
                    WHERE f.rule_id = r.id AND f.dedup_value = t.metric || ':' || t.subject
                      AND NOT f.backtest AND f.cleared_at IS NULL
                      AND f.fired_at > clock_timestamp() - make_interval(secs => greatest(r.throttle_seconds, 0)))
                ON CONFLICT DO NOTHING RETURNING id
            LOOP
                PERFORM alerts.announce(fired, 'fired');
                n := n + 1;
            END LOOP;
            -- what no longer holds is cleared: its open firings closed, the latest announced
            FOR fired IN
                WITH cleared AS (
                    UPDATE alerts.firings f SET cleared_at = clock_timestamp()
                    WHERE f.org_id = r.org_id AND f.rule_id = r.id AND f.cleared_at IS NULL
                      AND NOT f.backtest AND f.retracted_at IS NULL
                      AND f.dedup_value <> ALL (ARRAY(
                          SELECT t.metric || ':' || t.subject
                          FROM alerts.match_health(r.predicate, health) t))
                    RETURNING f.id, f.dedup_value, f.fired_at)
                SELECT DISTINCT ON (c.dedup_value) c.id FROM cleared c
                ORDER BY c.dedup_value, c.fired_at DESC
            LOOP
                PERFORM alerts.announce(fired, 'cleared');
            END LOOP;
        EXCEPTION WHEN others THEN
            PERFORM alerts.set_aside(r.org_id, r.id, 1, SQLERRM);
        END;
    END LOOP;
    RETURN n;
END
$$;


ALTER FUNCTION alerts.evaluate_platform() OWNER TO chainlake_definer;

--
-- Name: evaluate_rule(alerts.rules, bigint, bigint, bigint, boolean, text); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.evaluate_rule(r alerts.rules, p_chain_id bigint, p_from bigint, p_to bigint, p_backtest boolean DEFAULT false, p_source text DEFAULT 'chain'::text) RETURNS SETOF uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    ending bigint;
    fired uuid;
BEGIN
    IF r.window_blocks IS NULL THEN
        FOR fired IN
            INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block,
                                        block_hash, match_key, dedup_value, vals, backtest)
            SELECT r.org_id, r.id, p_chain_id, hit.n, hit.n, hit.block_hash, hit.match_key,
                   hit.dedup_value, hit.vals, p_backtest
            FROM (SELECT DISTINCT ON (m.dedup_value) m.*
                  FROM alerts.match_rows(r.dataset, r.predicate, r.dedup_key, p_chain_id, p_from,
                                         p_to, p_source) m
                  ORDER BY m.dedup_value, m.n, m.match_key) hit
            WHERE NOT alerts.throttled(r, hit.dedup_value, p_backtest)
            ON CONFLICT DO NOTHING RETURNING id
        LOOP
            RETURN NEXT fired;
        END LOOP;
        RETURN;
    END IF;
    FOR ending IN SELECT generate_series(p_from, p_to) LOOP
        FOR fired IN
            INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block,
                                        block_hash, match_key, dedup_value, vals, backtest)
            SELECT r.org_id, r.id, p_chain_id, ending - r.window_blocks + 1, ending,
                   hit.block_hash, hit.dedup_value || '@' || ending, hit.dedup_value, hit.vals,
                   p_backtest
            FROM alerts.match_window(r.dataset, r.predicate, r.group_by, r.window_blocks,
                                     p_chain_id, ending, p_source) hit
            WHERE NOT alerts.throttled(r, hit.dedup_value, p_backtest)
            ON CONFLICT DO NOTHING RETURNING id
        LOOP
            RETURN NEXT fired;
        END LOOP;
    END LOOP;
END
$$;


ALTER FUNCTION alerts.evaluate_rule(r alerts.rules, p_chain_id bigint, p_from bigint, p_to bigint, p_backtest boolean, p_source text) OWNER TO chainlake_definer;

--
-- Name: evaluate_simple(text, bigint, bigint, bigint, text, uuid, uuid); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.evaluate_simple(p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_org uuid DEFAULT NULL::uuid, p_rule uuid DEFAULT NULL::uuid) RETURNS SETOF uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    orgs uuid[];
    ids uuid[];
    predicates text[];
    fired uuid;
BEGIN
    SELECT array_agg(rl.org_id ORDER BY rl.org_id, rl.id), array_agg(rl.id ORDER BY rl.org_id, rl.id),
           array_agg(rl.predicate ORDER BY rl.org_id, rl.id)
    INTO orgs, ids, predicates
    FROM alerts.rules rl
    WHERE rl.enabled AND rl.last_error IS NULL AND rl.confirmation = p_level
      AND rl.id <> ALL ((SELECT alerts.held_aside_ids())::uuid[])
      AND rl.dataset = p_dataset AND alerts.is_simple(rl)
      AND (rl.chain_id IS NULL OR rl.chain_id = p_chain_id)
      AND (p_org IS NULL OR rl.org_id = p_org) AND (p_rule IS NULL OR rl.id = p_rule);
    IF ids IS NULL THEN
        RETURN;
    END IF;
    FOR fired IN
        INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block, block_hash,
                                    match_key, dedup_value, vals)
        SELECT orgs[m.i], ids[m.i], p_chain_id, m.n, m.n, m.block_hash, m.match_key, m.match_key,
               m.vals
        FROM alerts.match_simple(p_dataset, predicates, p_chain_id, p_from, p_to) m
        ON CONFLICT DO NOTHING RETURNING id
    LOOP
        RETURN NEXT fired;
    END LOOP;
END
$$;


ALTER FUNCTION alerts.evaluate_simple(p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_org uuid, p_rule uuid) OWNER TO chainlake_definer;

--
-- Name: evaluated_shape(text, text); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.evaluated_shape(p_dataset text, p_source text, OUT tbl text, OUT num text, OUT row_key text, OUT blocks text) RETURNS record
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    shape record := alerts.dataset_shape(p_dataset);
BEGIN
    tbl := shape.tbl;
    num := shape.num;
    row_key := shape.row_key;
    blocks := 'chain.blocks';
    IF p_source = 'backtest' THEN
        tbl := 'pg_temp.backtest_' || split_part(shape.tbl, '.', 2);
        blocks := 'pg_temp.backtest_blocks';
    ELSIF p_source IS DISTINCT FROM 'chain' THEN
        RAISE EXCEPTION 'source: chain or backtest, not "%"', p_source USING ERRCODE = '22023';
    END IF;
END
$$;


ALTER FUNCTION alerts.evaluated_shape(p_dataset text, p_source text, OUT tbl text, OUT num text, OUT row_key text, OUT blocks text) OWNER TO postgres;

--
-- Name: events_after(text, timestamp with time zone, integer); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.events_after(p_org text, p_after timestamp with time zone, p_limit integer) RETURNS TABLE(at timestamp with time zone, event text, firing uuid, org text, rule text, severity text, chain_id bigint, to_block bigint, match_key text, vals jsonb)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH mine AS (
        SELECT o.id, o.name FROM core.orgs o
        WHERE o.id = ANY (core.caller_org_ids('read')) AND (p_org IS NULL OR o.name = p_org)
    ), happened AS (
        SELECT f.org_id, f.id, f.rule_id, f.fired_at AS at, 'fired' AS event
        FROM alerts.firings f JOIN mine ON mine.id = f.org_id WHERE f.fired_at > p_after
        UNION ALL
        SELECT f.org_id, f.id, f.rule_id, f.retracted_at, 'retracted'
        FROM alerts.firings f JOIN mine ON mine.id = f.org_id WHERE f.retracted_at > p_after
        UNION ALL
        SELECT f.org_id, f.id, f.rule_id, f.cleared_at, 'cleared'
        FROM alerts.firings f JOIN mine ON mine.id = f.org_id WHERE f.cleared_at > p_after
    )
    SELECT h.at, h.event, f.id, mine.name, r.name, r.severity, f.chain_id, f.to_block,
           f.match_key, f.vals
    FROM happened h
    JOIN alerts.firings f ON f.org_id = h.org_id AND f.id = h.id
    JOIN mine ON mine.id = h.org_id
    LEFT JOIN alerts.rules r ON r.org_id = f.org_id AND r.id = f.rule_id
    ORDER BY h.at, f.id
    LIMIT least(greatest(coalesce(p_limit, 100), 1), 1000)
$$;


ALTER FUNCTION alerts.events_after(p_org text, p_after timestamp with time zone, p_limit integer) OWNER TO postgres;

--
-- Name: firings; Type: ROW SECURITY; Schema: alerts; Owner: postgres
--

ALTER TABLE alerts.firings ENABLE ROW LEVEL SECURITY;

--
-- Name: firings; Type: TABLE; Schema: alerts; Owner: postgres
--

CREATE TABLE alerts.firings (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    rule_id uuid NOT NULL,
    chain_id bigint NOT NULL,
    from_block bigint NOT NULL,
    to_block bigint NOT NULL,
    block_hash bytea NOT NULL,
    match_key text NOT NULL,
    dedup_value text NOT NULL,
    vals jsonb DEFAULT '{}'::jsonb NOT NULL,
    backtest boolean DEFAULT false NOT NULL,
    fired_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    retracted_at timestamp with time zone,
    cleared_at timestamp with time zone
);

ALTER TABLE ONLY alerts.firings FORCE ROW LEVEL SECURITY;


ALTER TABLE alerts.firings OWNER TO postgres;

--
-- Name: firings firings_org_id_fkey; Type: FK CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.firings
    ADD CONSTRAINT firings_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: firings firings_pkey; Type: CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.firings
    ADD CONSTRAINT firings_pkey PRIMARY KEY (org_id, id);

--
-- Name: firings members read their orgs rows; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON alerts.firings FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: firings the platform's definer functions; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON alerts.firings TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: firings_live_idx; Type: INDEX; Schema: alerts; Owner: postgres
--

CREATE INDEX firings_live_idx ON alerts.firings USING btree (chain_id, to_block) WHERE (retracted_at IS NULL);

--
-- Name: firings_once; Type: INDEX; Schema: alerts; Owner: postgres
--

CREATE UNIQUE INDEX firings_once ON alerts.firings USING btree (rule_id, chain_id, block_hash, match_key, backtest) WHERE (retracted_at IS NULL);

--
-- Name: firings_org_cleared_idx; Type: INDEX; Schema: alerts; Owner: postgres
--

CREATE INDEX firings_org_cleared_idx ON alerts.firings USING btree (org_id, cleared_at) WHERE (cleared_at IS NOT NULL);

--
-- Name: firings_org_fired_idx; Type: INDEX; Schema: alerts; Owner: postgres
--

CREATE INDEX firings_org_fired_idx ON alerts.firings USING btree (org_id, fired_at);

--
-- Name: firings_org_retracted_idx; Type: INDEX; Schema: alerts; Owner: postgres
--

CREATE INDEX firings_org_retracted_idx ON alerts.firings USING btree (org_id, retracted_at) WHERE (retracted_at IS NOT NULL);

--
-- Name: firings_rule_idx; Type: INDEX; Schema: alerts; Owner: postgres
--

CREATE INDEX firings_rule_idx ON alerts.firings USING btree (rule_id, dedup_value, fired_at DESC);

--
-- Name: growing_functions(boolean); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.growing_functions(p_multiplying boolean) RETURNS oid[]
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT coalesce(array_agg(f.oid), '{}') FROM pg_catalog.pg_proc f
    WHERE f.pronamespace = 'pg_catalog'::regnamespace
      AND (f.proname IN ('replace', 'regexp_replace', 'array_to_string', 'concat_ws')
           OR NOT p_multiplying
              AND f.proname IN ('translate', 'encode', 'quote_literal', 'quote_ident',
                                'quote_nullable', 'to_json', 'to_jsonb', 'array_to_json',
                                'row_to_json', 'jsonb_pretty', 'string_to_array',
                                'regexp_split_to_array'))
$$;


ALTER FUNCTION alerts.growing_functions(p_multiplying boolean) OWNER TO postgres;

--
-- Name: held_aside; Type: ROW SECURITY; Schema: alerts; Owner: postgres
--

ALTER TABLE alerts.held_aside ENABLE ROW LEVEL SECURITY;

--
-- Name: held_aside; Type: TABLE; Schema: alerts; Owner: postgres
--

CREATE TABLE alerts.held_aside (
    rule_id uuid NOT NULL,
    rule_updated_at timestamp with time zone NOT NULL,
    reason text NOT NULL,
    set_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY alerts.held_aside FORCE ROW LEVEL SECURITY;


ALTER TABLE alerts.held_aside OWNER TO postgres;

--
-- Name: held_aside nobody reads held-aside marks; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "nobody reads held-aside marks" ON alerts.held_aside FOR SELECT TO chainlake_users USING (false);

--
-- Name: held_aside the platform's definer functions; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON alerts.held_aside TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: held_aside_ids(); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.held_aside_ids() RETURNS uuid[]
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT coalesce(array_agg(DISTINCT h.rule_id), '{}') FROM alerts.held_aside h
    JOIN alerts.rules r ON r.id = h.rule_id AND r.updated_at = h.rule_updated_at
$$;


ALTER FUNCTION alerts.held_aside_ids() OWNER TO postgres;

--
-- Name: install_system_rules(); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.install_system_rules() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    org uuid := (SELECT id FROM core.orgs WHERE system LIMIT 1);
    n integer;
BEGIN
    IF org IS NULL THEN
        RAISE EXCEPTION 'no system org yet' USING ERRCODE = '55000',
            HINT = 'chainlake up makes one (core.set_system_org)';
    END IF;
    INSERT INTO alerts.rules (org_id, name, dataset, condition, severity, throttle_seconds,
                              description)
    VALUES
        (org, 'run-failure-rate', 'platform.health',
         'metric = ''run_failure_rate'' AND value >= 0.5', 'warning', 900,
         'Half or more of an org''s runs failed over the last 15 minutes.'),
        (org, 'ingest-lag', 'platform.health',
         'metric = ''ingest_lag_seconds'' AND value > 30', 'critical', 300,
         'A chain''s newest block was ingested more than 30 s ago.'),
        (org, 'queue-age', 'platform.health',
         'metric = ''queue_oldest_age_seconds'' AND value > 300', 'warning', 900,
         'A queue''s oldest message waited more than 5 minutes.'),
        (org, 'dead-deliveries', 'platform.health',
         'metric = ''deliveries_dead_1h'' AND value > 0', 'warning', 3600,
         'Alert deliveries ended in the dead letter.'),
        (org, 'rpc-endpoint-down', 'platform.health',
         'metric = ''rpc_endpoint_down_seconds'' AND value >= 15', 'warning', 3600,
         'Live ingest has failed over from an RPC endpoint for 15 s or more; cleared when it answers again.'),
        (org, 'chain-check', 'platform.health',
         'metric = ''chain_check_problems'' AND value > 0', 'critical', 3600,
         'The scheduled chain check found a gap, a broken hash link or an altered chunk; cleared when a later check is clean (chainlake chain repair).')
    ON CONFLICT (org_id, name) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;


ALTER FUNCTION alerts.install_system_rules() OWNER TO chainlake_definer;

--
-- Name: is_simple(alerts.rules); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.is_simple(r alerts.rules) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT r.window_blocks IS NULL AND r.throttle_seconds = 0 AND cardinality(r.dedup_key) = 0
$$;


ALTER FUNCTION alerts.is_simple(r alerts.rules) OWNER TO postgres;

--
-- Name: list_channels(); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.list_channels() RETURNS TABLE(org text, name text, kind text, target text, config jsonb, has_secret boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT o.name, c.name, c.kind, c.target, c.config, c.secret_enc IS NOT NULL
    FROM alerts.channels c JOIN core.orgs o ON o.id = c.org_id
    WHERE c.org_id = ANY (core.caller_org_ids('read'))
    ORDER BY o.name, c.name
$$;


ALTER FUNCTION alerts.list_channels() OWNER TO chainlake_definer;

--
-- Name: list_rules(text, integer); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.list_rules(p_after text, p_limit integer) RETURNS TABLE(org text, name text, dataset text, condition text, severity text, enabled boolean, channels text[], confirmation text, window_blocks integer, group_by text[], dedup_key text[], throttle_seconds integer, chain_id bigint, description text, last_error text, firings bigint, last_fired timestamp with time zone, cursor text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT o.name, r.name, r.dataset, r.condition, r.severity, r.enabled, r.channels,
           r.confirmation, r.window_blocks, r.group_by, r.dedup_key, r.throttle_seconds,
           r.chain_id, r.description, r.last_error,
           (SELECT count(*) FROM alerts.firings f
            WHERE f.org_id = r.org_id AND f.rule_id = r.id AND NOT f.backtest),
           (SELECT max(f.fired_at) FROM alerts.firings f
            WHERE f.org_id = r.org_id AND f.rule_id = r.id AND NOT f.backtest),
           o.name || '/' || r.name
    FROM alerts.rules r JOIN core.orgs o ON o.id = r.org_id
    WHERE p_after IS NULL OR o.name || '/' || r.name > p_after
    ORDER BY o.name || '/' || r.name
    LIMIT least(greatest(p_limit, 1), 1000)
$$;


ALTER FUNCTION alerts.list_rules(p_after text, p_limit integer) OWNER TO postgres;

--
-- Name: match_health(text, alerts.platform_health_row[]); Type: FUNCTION; Schema: alerts; Owner: chainlake_evaluator
--

CREATE FUNCTION alerts.match_health(p_predicate text, p_rows alerts.platform_health_row[]) RETURNS SETOF alerts.platform_health_row
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT t.metric, t.subject, t.value FROM unnest($1) AS t '
        'WHERE (SELECT (%s)::boolean FROM (SELECT (t).*) AS t)', p_predicate)
    USING p_rows;
END
$_$;


ALTER FUNCTION alerts.match_health(p_predicate text, p_rows alerts.platform_health_row[]) OWNER TO chainlake_evaluator;

--
-- Name: match_rows(text, text, text[], bigint, bigint, bigint, text); Type: FUNCTION; Schema: alerts; Owner: chainlake_evaluator
--

CREATE FUNCTION alerts.match_rows(p_dataset text, p_predicate text, p_dedup_key text[], p_chain_id bigint, p_from bigint, p_to bigint, p_source text) RETURNS TABLE(n bigint, block_hash bytea, match_key text, dedup_value text, vals jsonb)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    shape record := alerts.evaluated_shape(p_dataset, p_source);
    dedup text := shape.row_key;
BEGIN
    IF cardinality(p_dedup_key) > 0 THEN
        dedup := (SELECT 'concat_ws(''|'', ' || string_agg(format('t.%I::text', k), ', ') || ')'
                  FROM unnest(p_dedup_key) k);
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT t.%2$I, b.hash, %3$s, %4$s, to_jsonb(t) '
        'FROM %1$s t JOIN %6$s b ON b.chain_id = t.chain_id AND b.number = t.%2$I '
        'WHERE t.chain_id = $1 AND t.%2$I BETWEEN $2 AND $3 '
        '  AND (SELECT (%5$s)::boolean FROM (SELECT (t).*) AS t)',
        shape.tbl, shape.num, shape.row_key, dedup, p_predicate, shape.blocks)
    USING p_chain_id, p_from, p_to;
END
$_$;


ALTER FUNCTION alerts.match_rows(p_dataset text, p_predicate text, p_dedup_key text[], p_chain_id bigint, p_from bigint, p_to bigint, p_source text) OWNER TO chainlake_evaluator;

--
-- Name: match_simple(text, text[], bigint, bigint, bigint); Type: FUNCTION; Schema: alerts; Owner: chainlake_evaluator
--

CREATE FUNCTION alerts.match_simple(p_dataset text, p_predicates text[], p_chain_id bigint, p_from bigint, p_to bigint) RETURNS TABLE(i integer, n bigint, block_hash bytea, match_key text, vals jsonb)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    shape record := alerts.evaluated_shape(p_dataset, 'chain');
    cases text := (SELECT string_agg(format('CASE WHEN (%s)::boolean THEN %s END', p, k), ', '
                                     ORDER BY k)
                   FROM unnest(p_predicates) WITH ORDINALITY AS u (p, k));
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT h.i::integer, t.%2$I, b.hash, %3$s, to_jsonb(t) '
        'FROM (SELECT m.r, m.i FROM (SELECT t AS r, unnest(ARRAY[%4$s]::bigint[]) AS i '
        '      FROM %1$s t WHERE t.chain_id = $1 AND t.%2$I BETWEEN $2 AND $3) m '
        '      WHERE m.i IS NOT NULL) h '
        'CROSS JOIN LATERAL (SELECT (h.r).*) t '  -- the matched rows only get to_jsonb
        'JOIN chain.blocks b ON b.chain_id = $1 AND b.number = t.%2$I',
        shape.tbl, shape.num, shape.row_key, cases)
    USING p_chain_id, p_from, p_to;
END
$_$;


ALTER FUNCTION alerts.match_simple(p_dataset text, p_predicates text[], p_chain_id bigint, p_from bigint, p_to bigint) OWNER TO chainlake_evaluator;

--
-- Name: match_window(text, text, text[], integer, bigint, bigint, text); Type: FUNCTION; Schema: alerts; Owner: chainlake_evaluator
--

CREATE FUNCTION alerts.match_window(p_dataset text, p_predicate text, p_group_by text[], p_window integer, p_chain_id bigint, p_ending bigint, p_source text) RETURNS TABLE(block_hash bytea, dedup_value text, vals jsonb)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    shape record := alerts.evaluated_shape(p_dataset, p_source);
    groups text := '''all''';
    group_cols text := '';
BEGIN
    IF cardinality(p_group_by) > 0 THEN
        SELECT 'concat_ws(''|'', ' || string_agg(format('t.%I::text', g), ', ') || ')',
               'GROUP BY ' || string_agg(format('t.%I', g), ', ')
        INTO groups, group_cols FROM unnest(p_group_by) g;
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT b.hash, hit.dedup_value, hit.vals '
        'FROM (SELECT %2$s AS dedup_value, jsonb_build_object(''rows'', count(*)) AS vals '
        '      FROM %1$s t WHERE t.chain_id = $1 AND t.%3$I BETWEEN $2 - $3 + 1 AND $2 '
        '      %5$s HAVING (%4$s)) hit '
        'JOIN %6$s b ON b.chain_id = $1 AND b.number = $2',
        shape.tbl, groups, shape.num, p_predicate, group_cols, shape.blocks)
    USING p_chain_id, p_ending, p_window::bigint;
END
$_$;


ALTER FUNCTION alerts.match_window(p_dataset text, p_predicate text, p_group_by text[], p_window integer, p_chain_id bigint, p_ending bigint, p_source text) OWNER TO chainlake_evaluator;

--
-- Name: notice_channels(text); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.notice_channels(p_org text) RETURNS TABLE(org text, channel text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT o.name, alerts.channel_name(o.id) FROM core.orgs o
    WHERE o.id = ANY (core.caller_org_ids('read')) AND (p_org IS NULL OR o.name = p_org)
    ORDER BY o.name
$$;


ALTER FUNCTION alerts.notice_channels(p_org text) OWNER TO postgres;

--
-- Name: on_batch(bigint, bigint, bigint, bigint, bigint, uuid, uuid); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.on_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_old_finalized bigint, p_finalized bigint, p_org uuid DEFAULT NULL::uuid, p_rule uuid DEFAULT NULL::uuid) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    depth integer := alerts.safe_depth();
    finalized bigint := greatest(p_old_finalized, p_finalized);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM alerts.rules WHERE enabled AND dataset LIKE 'chain.%'
                   AND (p_org IS NULL OR org_id = p_org) AND (p_rule IS NULL OR id = p_rule)) THEN
        RETURN 0;
    END IF;
    RETURN alerts.evaluate(p_chain_id, p_from, p_to, 'provisional', p_org, p_rule)
         + alerts.evaluate(p_chain_id, p_from - depth, p_to - depth, 'safe', p_org, p_rule)
         + alerts.evaluate(p_chain_id,
                           least(coalesce(p_old_finalized,
                                          (SELECT start_block - 1 FROM chain.chains
                                           WHERE chain_id = p_chain_id)),
                                 p_from - 1) + 1,  -- what earlier batches could not reach
                           least(finalized, p_to), 'finalized', p_org, p_rule);
END
$$;


ALTER FUNCTION alerts.on_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_old_finalized bigint, p_finalized bigint, p_org uuid, p_rule uuid) OWNER TO chainlake_definer;

--
-- Name: platform_health(); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.platform_health() RETURNS SETOF alerts.platform_health_row
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT 'run_failure_rate', o.name,
           (count(*) FILTER (WHERE r.status IN ('failed', 'dead')))::double precision / count(*)
    FROM runs.runs r JOIN core.orgs o ON o.id = r.org_id
    WHERE r.status IN ('succeeded', 'failed', 'dead')
      AND r.finished_at > now() - interval '15 minutes'
    GROUP BY o.name
    UNION ALL
    SELECT 'runs_failed_15m', o.name, count(*)::double precision
    FROM runs.runs r JOIN core.orgs o ON o.id = r.org_id
    WHERE r.status IN ('failed', 'dead') AND r.finished_at > now() - interval '15 minutes'
    GROUP BY o.name
    UNION ALL
    SELECT 'ingest_lag_seconds', c.chain_id::text,
           extract(epoch FROM now() - (SELECT max(b.ingested_at) FROM chain.blocks b
                                       WHERE b.chain_id = c.chain_id))
    FROM chain.chains c
    WHERE c.stopped_reason IS NOT NULL OR EXISTS (SELECT 1 FROM chain.blocks b
                                                  WHERE b.chain_id = c.chain_id)
    UNION ALL
    SELECT 'queue_oldest_age_seconds', q.name, coalesce(extract(epoch FROM now() - q.oldest), 0)
    FROM (SELECT 'run_tasks' AS name, (SELECT min(enqueued_at) FROM pgmq.q_run_tasks) AS oldest
          UNION ALL
          SELECT 'alert_deliveries', (SELECT min(enqueued_at) FROM pgmq.q_alert_deliveries)) q
    UNION ALL
    SELECT 'deliveries_dead_1h', o.name, count(*)::double precision
    FROM alerts.deliveries d JOIN core.orgs o ON o.id = d.org_id
    WHERE d.state = 'dead' AND d.created_at > now() - interval '1 hour'
    GROUP BY o.name
    UNION ALL
    -- an endpoint live ingest fails over from, while its ingest still reports (a stopped ingest
    -- is ingest-lag's)
    SELECT 'rpc_endpoint_down_seconds',
           'chain ' || h.chain_id || ' endpoint ' || h.position || ' (' || h.address || ')',
           extract(epoch FROM now() - h.down_since)
    FROM chain.rpc_health h
    WHERE h.down_since IS NOT NULL AND h.reported_at > now() - interval '2 minutes'
    UNION ALL
    -- the last scheduled integrity check of a chain, while it is recent
    SELECT 'chain_check_problems', k.chain_id::text, k.problems::double precision
    FROM chain.check_reports k WHERE k.checked_at > now() - interval '1 day'
$$;


ALTER FUNCTION alerts.platform_health() OWNER TO chainlake_definer;

--
-- Name: platform_health_row; Type: TYPE; Schema: alerts; Owner: postgres
--

CREATE TYPE alerts.platform_health_row AS (
	metric text,
	subject text,
	value double precision
);


ALTER TYPE alerts.platform_health_row OWNER TO postgres;

--
-- Name: platform_overview(); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.platform_overview() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT jsonb_build_object(
        'at', now(),
        'runs', (
            SELECT jsonb_build_object(
                'queued', count(*) FILTER (WHERE status IN ('queued', 'retrying')),
                'running', count(*) FILTER (WHERE status = 'running'),
                'succeeded_5m', count(*) FILTER (WHERE status = 'succeeded'
                                                   AND finished_at > now() - interval '5 minutes'),
                'failed_5m', count(*) FILTER (WHERE status IN ('failed', 'dead')
                                                AND finished_at > now() - interval '5 minutes'),
                'finished_per_second_1m', round((count(*) FILTER (
                    WHERE status IN ('succeeded', 'failed', 'dead')
                      AND finished_at > now() - interval '1 minute'))::numeric / 60, 2))
            FROM runs.runs
            WHERE status IN ('queued', 'retrying', 'running')
               OR finished_at > now() - interval '5 minutes'),
        'queues', jsonb_build_array(
            (SELECT jsonb_build_object('name', 'run_tasks', 'depth', count(*),
                                       'oldest_seconds',
                                       round(coalesce(extract(epoch FROM now() - min(enqueued_at)), 0), 1))
             FROM pgmq.q_run_tasks),
            (SELECT jsonb_build_object('name', 'alert_deliveries', 'depth', count(*),
                                       'oldest_seconds',
                                       round(coalesce(extract(epoch FROM now() - min(enqueued_at)), 0), 1))
             FROM pgmq.q_alert_deliveries)),
        'chains', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'chain_id', c.chain_id, 'name', c.name, 'head', c.head,
                       'finalized', c.finalized, 'archived_to', c.archived_to,
                       'stored_tip', t.tip,
                       'lag_blocks', CASE WHEN c.head IS NOT NULL AND t.tip IS NOT NULL
                                          THEN greatest(c.head - t.tip, 0) END,
                       'lag_seconds', round(extract(epoch FROM now() - t.ingested)::numeric, 1),
                       'stopped', c.stopped_reason,
                       'endpoints_down', (SELECT count(*) FROM chain.rpc_health h
                                          WHERE h.chain_id = c.chain_id
                                            AND h.down_since IS NOT NULL))
                   ORDER BY c.chain_id)
            FROM chain.chains c
            LEFT JOIN LATERAL (SELECT max(b.number) AS tip, max(b.ingested_at) AS ingested
                               FROM chain.blocks b WHERE b.chain_id = c.chain_id) t ON true), '[]'),
        'alerts', (
            SELECT jsonb_build_object(
                'delivered_15m', count(*),
                'latency_p50_ms', round((percentile_cont(0.5) WITHIN GROUP (
                    ORDER BY extract(epoch FROM d.delivered_at - f.fired_at)) * 1000)::numeric),
                'latency_p95_ms', round((percentile_cont(0.95) WITHIN GROUP (
                    ORDER BY extract(epoch FROM d.delivered_at - f.fired_at)) * 1000)::numeric),
                'pending', (SELECT count(*) FROM alerts.deliveries WHERE state = 'pending'),
                'dead_1h', (SELECT count(*) FROM alerts.deliveries
                            WHERE state = 'dead' AND created_at > now() - interval '1 hour'),
                'open_system_alerts', (SELECT count(*) FROM alerts.firings x
                                       JOIN alerts.rules r ON r.org_id = x.org_id AND r.id = x.rule_id
                                       WHERE r.dataset = 'platform.health'
                                         AND x.cleared_at IS NULL AND NOT x.backtest))
            FROM alerts.deliveries d JOIN alerts.firings f ON f.org_id = d.org_id AND f.id = d.firing_id
            WHERE d.state = 'delivered' AND d.event = 'fired'
              AND d.delivered_at > now() - interval '15 minutes'),
        'busiest_orgs', coalesce((
            SELECT jsonb_agg(b ORDER BY b.running DESC, b.queued DESC, b.finished_15m DESC, b.org)
            FROM (SELECT o.name AS org,
                         count(*) FILTER (WHERE r.status = 'running') AS running,
                         count(*) FILTER (WHERE r.status IN ('queued', 'retrying')) AS queued,
                         count(*) FILTER (WHERE r.finished_at > now() - interval '15 minutes')
                             AS finished_15m,
                         count(*) FILTER (WHERE r.status IN ('failed', 'dead')
                                            AND r.finished_at > now() - interval '15 minutes')
                             AS failed_15m
                  FROM runs.runs r JOIN core.orgs o ON o.id = r.org_id
                  WHERE r.status IN ('queued', 'retrying', 'running')
                     OR r.finished_at > now() - interval '15 minutes'
                  GROUP BY o.name
                  ORDER BY 2 DESC, 3 DESC, 4 DESC, 1
                  LIMIT 10) b), '[]')
    )
$$;


ALTER FUNCTION alerts.platform_overview() OWNER TO chainlake_definer;

--
-- Name: probe_condition(text, regprocedure); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.probe_condition(p_dataset text, p_compiled regprocedure) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    shape record := alerts.dataset_shape(p_dataset);
    budget constant integer := alerts.time_budget_ms('probe');
    started constant timestamptz := clock_timestamp();
    took integer;
    probed integer := 0;
    latest record;
BEGIN
    IF shape.num IS NULL THEN
        RETURN;  -- platform.health: the system org's rules over the platform's own rows
    END IF;
    FOR latest IN EXECUTE format('SELECT t FROM %s t ORDER BY t.chain_id DESC, t.%I DESC LIMIT 100',
                                 shape.tbl, shape.num) LOOP
        BEGIN
            EXECUTE format('SELECT %s($1)', p_compiled::oid::regproc) USING latest.t;
        EXCEPTION WHEN others THEN
            NULL;
        END;
        probed := probed + 1;
        took := (extract(epoch FROM clock_timestamp() - started) * 1000)::integer;
        IF took > budget THEN
            RAISE EXCEPTION 'condition: took % ms over the latest % row(s) of %, at most % ms',
                took, probed, p_dataset, budget USING ERRCODE = '22023',
                HINT = 'it runs in every ingest batch over every new row: keep it cheap (docs/alerts.md, "What a condition may cost")';
        END IF;
    END LOOP;
END
$_$;


ALTER FUNCTION alerts.probe_condition(p_dataset text, p_compiled regprocedure) OWNER TO postgres;

--
-- Name: recent_firings(text, text, integer); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.recent_firings(p_org text, p_rule text, p_limit integer) RETURNS TABLE(id uuid, org text, rule text, severity text, chain_id bigint, from_block bigint, to_block bigint, block_hash text, match_key text, vals jsonb, fired_at timestamp with time zone, retracted_at timestamp with time zone, deliveries jsonb)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT f.id, o.name, r.name, r.severity, f.chain_id, f.from_block, f.to_block,
           '0x' || encode(f.block_hash, 'hex'), f.match_key, f.vals, f.fired_at, f.retracted_at,
           coalesce((SELECT jsonb_agg(jsonb_build_object(
                         'channel', d.channel, 'event', d.event, 'state', d.state,
                         'attempts', d.attempts, 'last_error', d.last_error)
                         ORDER BY d.created_at, d.channel)
                     FROM alerts.deliveries d WHERE d.org_id = f.org_id AND d.firing_id = f.id),
                    '[]')
    FROM alerts.firings f
    JOIN core.orgs o ON o.id = f.org_id
    LEFT JOIN alerts.rules r ON r.org_id = f.org_id AND r.id = f.rule_id
    WHERE NOT f.backtest AND (p_org IS NULL OR o.name = p_org)
      AND (p_rule IS NULL OR r.name = p_rule)
    ORDER BY f.fired_at DESC
    LIMIT least(greatest(p_limit, 1), 1000)
$$;


ALTER FUNCTION alerts.recent_firings(p_org text, p_rule text, p_limit integer) OWNER TO postgres;

--
-- Name: record_attempt(bigint, uuid, text, integer, integer); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.record_attempt(p_msg_id bigint, p_delivery_id uuid, p_error text, p_max_attempts integer, p_retry_seconds integer) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    d alerts.deliveries;
BEGIN
    UPDATE alerts.deliveries
    SET attempts = attempts + 1,
        last_error = p_error,
        state = CASE WHEN p_error IS NULL THEN 'delivered'
                     WHEN attempts + 1 >= p_max_attempts THEN 'dead' ELSE 'pending' END,
        delivered_at = CASE WHEN p_error IS NULL THEN clock_timestamp() END
    WHERE id = p_delivery_id
    RETURNING * INTO d;
    IF d.id IS NULL OR d.state <> 'pending' THEN
        PERFORM pgmq.archive('alert_deliveries', p_msg_id);
    ELSE
        PERFORM pgmq.set_vt('alert_deliveries', p_msg_id, p_retry_seconds);
    END IF;
    RETURN coalesce(d.state, 'gone');
END
$$;


ALTER FUNCTION alerts.record_attempt(p_msg_id bigint, p_delivery_id uuid, p_error text, p_max_attempts integer, p_retry_seconds integer) OWNER TO chainlake_definer;

--
-- Name: retract_above(bigint, bigint); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.retract_above(p_chain_id bigint, p_fork bigint) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    gone uuid;
    n integer := 0;
BEGIN
    FOR gone IN
        UPDATE alerts.firings SET retracted_at = clock_timestamp()
        WHERE chain_id = p_chain_id AND to_block > p_fork AND retracted_at IS NULL
          AND NOT backtest
        RETURNING id
    LOOP
        PERFORM alerts.announce(gone, 'retracted');
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;


ALTER FUNCTION alerts.retract_above(p_chain_id bigint, p_fork bigint) OWNER TO chainlake_definer;

--
-- Name: rules; Type: ROW SECURITY; Schema: alerts; Owner: postgres
--

ALTER TABLE alerts.rules ENABLE ROW LEVEL SECURITY;

--
-- Name: rules; Type: TABLE; Schema: alerts; Owner: postgres
--

CREATE TABLE alerts.rules (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    name text NOT NULL,
    dataset text NOT NULL,
    condition text NOT NULL,
    severity text DEFAULT 'info'::text NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    chain_id bigint,
    channels text[] DEFAULT '{}'::text[] NOT NULL,
    dedup_key text[] DEFAULT '{}'::text[] NOT NULL,
    throttle_seconds integer DEFAULT 0 NOT NULL,
    confirmation text DEFAULT 'provisional'::text NOT NULL,
    window_blocks integer,
    group_by text[] DEFAULT '{}'::text[] NOT NULL,
    predicate text,
    last_error text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT rules_confirmation CHECK ((confirmation = ANY (ARRAY['provisional'::text, 'safe'::text, 'finalized'::text]))),
    CONSTRAINT rules_name_format CHECK ((name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'::text)),
    CONSTRAINT rules_severity CHECK ((severity = ANY (ARRAY['info'::text, 'warning'::text, 'critical'::text]))),
    CONSTRAINT rules_throttle CHECK (((throttle_seconds >= 0) AND (throttle_seconds <= 604800))),
    CONSTRAINT rules_window CHECK (((window_blocks IS NULL) OR ((window_blocks >= 1) AND (window_blocks <= 10000))))
);

ALTER TABLE ONLY alerts.rules FORCE ROW LEVEL SECURITY;


ALTER TABLE alerts.rules OWNER TO postgres;

--
-- Name: rules members read their orgs rows; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON alerts.rules FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: rules rules_audited; Type: TRIGGER; Schema: alerts; Owner: postgres
--

CREATE TRIGGER rules_audited AFTER INSERT OR DELETE OR UPDATE ON alerts.rules FOR EACH ROW EXECUTE FUNCTION core.audit_config_change('alert.rule', 'name');

--
-- Name: rules rules_checked; Type: TRIGGER; Schema: alerts; Owner: postgres
--

CREATE TRIGGER rules_checked BEFORE INSERT OR UPDATE ON alerts.rules FOR EACH ROW EXECUTE FUNCTION alerts.check_rule();

--
-- Name: rules rules_created_by_fkey; Type: FK CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.rules
    ADD CONSTRAINT rules_created_by_fkey FOREIGN KEY (created_by) REFERENCES core.users(id) ON DELETE SET NULL;

--
-- Name: rules rules_name_key; Type: CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.rules
    ADD CONSTRAINT rules_name_key UNIQUE (org_id, name);

--
-- Name: rules rules_org_id_fkey; Type: FK CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.rules
    ADD CONSTRAINT rules_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: rules rules_pkey; Type: CONSTRAINT; Schema: alerts; Owner: postgres
--

ALTER TABLE ONLY alerts.rules
    ADD CONSTRAINT rules_pkey PRIMARY KEY (org_id, id);

--
-- Name: rules rules_stamp_creator; Type: TRIGGER; Schema: alerts; Owner: postgres
--

CREATE TRIGGER rules_stamp_creator BEFORE INSERT OR UPDATE ON alerts.rules FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');

--
-- Name: rules the platform's definer functions; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON alerts.rules TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: rules writers add rows to their orgs; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "writers add rows to their orgs" ON alerts.rules FOR INSERT TO chainlake_users WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: rules writers change their orgs rows; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "writers change their orgs rows" ON alerts.rules FOR UPDATE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: rules writers delete their orgs rows; Type: POLICY; Schema: alerts; Owner: postgres
--

CREATE POLICY "writers delete their orgs rows" ON alerts.rules FOR DELETE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: safe_depth(); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.safe_depth() RETURNS integer
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$ SELECT 12 $$;


ALTER FUNCTION alerts.safe_depth() OWNER TO postgres;

--
-- Name: save_channel(text, text, text, text, jsonb, bytea); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.save_channel(p_org text, p_name text, p_kind text, p_target text, p_config jsonb, p_secret_enc bytea) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    org uuid := core.writable_org(p_org, 'manage its alert channels');
    saved uuid;
BEGIN
    INSERT INTO alerts.channels AS c (org_id, name, kind, target, config, secret_enc,
                                      created_by)
    VALUES (org, p_name, p_kind, p_target, coalesce(p_config, '{}'), p_secret_enc,
            core.caller_user_id())
    ON CONFLICT (org_id, name) DO UPDATE SET kind = excluded.kind, target = excluded.target,
        config = excluded.config, secret_enc = coalesce(excluded.secret_enc, c.secret_enc)
    RETURNING id INTO saved;
    RETURN saved;
END
$$;


ALTER FUNCTION alerts.save_channel(p_org text, p_name text, p_kind text, p_target text, p_config jsonb, p_secret_enc bytea) OWNER TO chainlake_definer;

--
-- Name: save_rule(text, text, jsonb); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.save_rule(p_org text, p_name text, p_spec jsonb) RETURNS alerts.rules
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    org uuid := core.member_org(p_org);
    unknown text;
    saved alerts.rules;
BEGIN
    SELECT string_agg(k, ', ') INTO unknown FROM jsonb_object_keys(p_spec) k
    WHERE k NOT IN ('dataset', 'condition', 'severity', 'channels', 'dedup_key',
                    'throttle_seconds', 'confirmation', 'window_blocks', 'group_by', 'chain_id',
                    'description', 'enabled');
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown rule field(s): %', unknown USING ERRCODE = '22023';
    END IF;
    IF coalesce(p_spec ->> 'dataset', '') = '' OR coalesce(p_spec ->> 'condition', '') = '' THEN
        RAISE EXCEPTION 'a rule needs a dataset and a condition' USING ERRCODE = '22023',
            HINT = 'e.g. dataset chain.transactions, condition value > 1000000000000000000';
    END IF;
    INSERT INTO alerts.rules AS r (org_id, name, dataset, condition, severity, channels,
        dedup_key, throttle_seconds, confirmation, window_blocks, group_by, chain_id,
        description, enabled)
    VALUES (org, p_name, p_spec ->> 'dataset', p_spec ->> 'condition',
        coalesce(p_spec ->> 'severity', 'info'), alerts.text_array(p_spec -> 'channels'),
        alerts.text_array(p_spec -> 'dedup_key'),
        coalesce((p_spec ->> 'throttle_seconds')::integer, 0),
        coalesce(p_spec ->> 'confirmation', 'provisional'),
        (p_spec ->> 'window_blocks')::integer, alerts.text_array(p_spec -> 'group_by'),
        (p_spec ->> 'chain_id')::bigint, coalesce(p_spec ->> 'description', ''),
        coalesce((p_spec ->> 'enabled')::boolean, true))
    ON CONFLICT (org_id, name) DO UPDATE SET
        dataset = excluded.dataset, condition = excluded.condition,
        severity = excluded.severity, channels = excluded.channels,
        dedup_key = excluded.dedup_key, throttle_seconds = excluded.throttle_seconds,
        confirmation = excluded.confirmation, window_blocks = excluded.window_blocks,
        group_by = excluded.group_by, chain_id = excluded.chain_id,
        description = excluded.description, enabled = excluded.enabled
    RETURNING * INTO saved;
    RETURN saved;
END
$$;


ALTER FUNCTION alerts.save_rule(p_org text, p_name text, p_spec jsonb) OWNER TO postgres;

--
-- Name: set_aside(uuid, uuid, bigint, text, integer); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.set_aside(p_org uuid, p_rule uuid, p_blocks bigint, p_error text DEFAULT NULL::text, p_took_ms integer DEFAULT NULL::integer) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    reason constant text := CASE
        WHEN p_error IS NOT NULL THEN left(p_error, 500)
        WHEN p_took_ms IS NOT NULL THEN format(
            'took %s ms on one batch of %s block(s), the most of its org''s rules, which together '
            'took more than their %s ms; fix the condition and save it again',
            p_took_ms, greatest(p_blocks, 1), alerts.time_budget_ms('org', p_blocks))
        ELSE format(
            'took more than %s ms on one batch of %s block(s); fix the condition and save it again',
            alerts.time_budget_ms('rule', p_blocks), greatest(p_blocks, 1)) END;
BEGIN
    UPDATE alerts.rules r SET last_error = reason
    FROM (SELECT id FROM alerts.rules WHERE org_id = p_org AND id = p_rule
          FOR UPDATE SKIP LOCKED) mine
    WHERE r.org_id = p_org AND r.id = mine.id;
    IF NOT FOUND THEN
        INSERT INTO alerts.held_aside (rule_id, rule_updated_at, reason)
        SELECT id, updated_at, reason FROM alerts.rules WHERE org_id = p_org AND id = p_rule;
    END IF;
    RETURN FOUND;
END
$$;


ALTER FUNCTION alerts.set_aside(p_org uuid, p_rule uuid, p_blocks bigint, p_error text, p_took_ms integer) OWNER TO chainlake_definer;

--
-- Name: set_enabled(text, text, boolean); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.set_enabled(p_org text, p_name text, p_enabled boolean) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    UPDATE alerts.rules SET enabled = p_enabled
    WHERE org_id = core.member_org(p_org) AND name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no alert rule "%" in org "%" that you may change', p_name, p_org
            USING ERRCODE = '42704';
    END IF;
END
$$;


ALTER FUNCTION alerts.set_enabled(p_org text, p_name text, p_enabled boolean) OWNER TO postgres;

--
-- Name: settle_set_aside(); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.settle_set_aside() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    settled integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM alerts.held_aside) THEN
        RETURN 0;
    END IF;
    WITH free AS (
        SELECT r.org_id, r.id, r.updated_at FROM alerts.rules r
        WHERE r.last_error IS NULL
          AND r.id IN (SELECT h.rule_id FROM alerts.held_aside h
                       WHERE h.rule_updated_at = r.updated_at)
        FOR UPDATE SKIP LOCKED
    )
    UPDATE alerts.rules r
    SET last_error = (SELECT h.reason FROM alerts.held_aside h
                      WHERE h.rule_id = free.id AND h.rule_updated_at = free.updated_at
                      ORDER BY h.set_at DESC LIMIT 1)
    FROM free WHERE r.org_id = free.org_id AND r.id = free.id;
    GET DIAGNOSTICS settled = ROW_COUNT;
    DELETE FROM alerts.held_aside h
    WHERE h.ctid IN (SELECT d.ctid FROM alerts.held_aside d
                     WHERE NOT EXISTS (SELECT 1 FROM alerts.rules r
                                       WHERE r.id = d.rule_id AND r.last_error IS NULL
                                         AND r.updated_at = d.rule_updated_at)
                     FOR UPDATE SKIP LOCKED);
    RETURN settled;
END
$$;


ALTER FUNCTION alerts.settle_set_aside() OWNER TO chainlake_definer;

--
-- Name: take_deliveries(integer, integer); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.take_deliveries(p_limit integer, p_lease_seconds integer) RETURNS TABLE(msg_id bigint, delivery_id uuid, org text, event text, attempts integer, channel text, kind text, target text, config jsonb, secret_enc bytea, rule text, severity text, firing_id uuid, chain_id bigint, from_block bigint, to_block bigint, block_hash bytea, match_key text, vals jsonb, fired_at timestamp with time zone)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT m.msg_id, d.id, o.name, d.event, d.attempts, c.name, c.kind, c.target, c.config,
           c.secret_enc, r.name, r.severity, f.id, f.chain_id, f.from_block, f.to_block,
           f.block_hash, f.match_key, f.vals, f.fired_at
    FROM pgmq.read('alert_deliveries', p_lease_seconds, p_limit) m
    JOIN alerts.deliveries d ON d.id = (m.message ->> 'delivery_id')::uuid
    JOIN core.orgs o ON o.id = d.org_id
    JOIN alerts.firings f ON f.org_id = d.org_id AND f.id = d.firing_id
    LEFT JOIN alerts.rules r ON r.org_id = f.org_id AND r.id = f.rule_id
    LEFT JOIN alerts.channels c ON c.org_id = d.org_id AND c.name = d.channel
$$;


ALTER FUNCTION alerts.take_deliveries(p_limit integer, p_lease_seconds integer) OWNER TO chainlake_definer;

--
-- Name: take_fair_deliveries(integer, integer, integer, jsonb); Type: FUNCTION; Schema: alerts; Owner: chainlake_definer
--

CREATE FUNCTION alerts.take_fair_deliveries(p_limit integer, p_per_org integer, p_lease_seconds integer, p_busy jsonb DEFAULT '{}'::jsonb) RETURNS TABLE(msg_id bigint, delivery_id uuid, org_id uuid, org text, event text, attempts integer, channel text, kind text, target text, config jsonb, secret_enc bytea, rule text, severity text, firing_id uuid, chain_id bigint, from_block bigint, to_block bigint, block_hash bytea, match_key text, vals jsonb, fired_at timestamp with time zone)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH heads AS (
        SELECT t.msg_id, row_number() OVER (PARTITION BY o.id ORDER BY t.msg_id) AS turn
        FROM core.orgs o
        CROSS JOIN LATERAL (
            SELECT q.msg_id FROM pgmq.q_alert_deliveries q
            WHERE q.message ->> 'org_id' = o.id::text AND q.vt <= clock_timestamp()
            ORDER BY q.msg_id
            LIMIT greatest(p_per_org - coalesce((p_busy ->> o.id::text)::integer, 0), 0)
            FOR UPDATE SKIP LOCKED
        ) t
    ), chosen AS (
        SELECT h.msg_id FROM heads h ORDER BY h.turn, h.msg_id LIMIT greatest(p_limit, 0)
    ), taken AS (
        UPDATE pgmq.q_alert_deliveries q
        SET vt = clock_timestamp() + make_interval(secs => p_lease_seconds),
            read_ct = q.read_ct + 1
        FROM chosen c
        WHERE q.msg_id = c.msg_id
        RETURNING q.msg_id, q.message
    )
    SELECT m.msg_id, d.id, d.org_id, o.name, d.event, d.attempts, c.name, c.kind, c.target,
           c.config, c.secret_enc, r.name, r.severity, f.id, f.chain_id, f.from_block,
           f.to_block, f.block_hash, f.match_key, f.vals, f.fired_at
    FROM taken m
    JOIN alerts.deliveries d ON d.id = (m.message ->> 'delivery_id')::uuid
    JOIN core.orgs o ON o.id = d.org_id
    JOIN alerts.firings f ON f.org_id = d.org_id AND f.id = d.firing_id
    LEFT JOIN alerts.rules r ON r.org_id = f.org_id AND r.id = f.rule_id
    LEFT JOIN alerts.channels c ON c.org_id = d.org_id AND c.name = d.channel
    ORDER BY m.msg_id
$$;


ALTER FUNCTION alerts.take_fair_deliveries(p_limit integer, p_per_org integer, p_lease_seconds integer, p_busy jsonb) OWNER TO chainlake_definer;

--
-- Name: text_array(jsonb); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.text_array(p_value jsonb) RETURNS text[]
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT coalesce(array_agg(v ORDER BY n), '{}')
    FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(p_value) = 'array' THEN p_value
                                        ELSE '[]' END) WITH ORDINALITY AS e(v, n)
$$;


ALTER FUNCTION alerts.text_array(p_value jsonb) OWNER TO postgres;

--
-- Name: throttled(alerts.rules, text, boolean); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.throttled(r alerts.rules, p_dedup_value text, p_backtest boolean) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT r.throttle_seconds > 0 AND EXISTS (
        SELECT 1 FROM alerts.firings f
        WHERE f.rule_id = r.id AND f.dedup_value = p_dedup_value AND f.retracted_at IS NULL
          AND f.backtest = p_backtest
          AND f.fired_at > clock_timestamp() - make_interval(secs => r.throttle_seconds))
$$;


ALTER FUNCTION alerts.throttled(r alerts.rules, p_dedup_value text, p_backtest boolean) OWNER TO postgres;

--
-- Name: time_budget_ms(text, bigint); Type: FUNCTION; Schema: alerts; Owner: postgres
--

CREATE FUNCTION alerts.time_budget_ms(p_scope text, p_blocks bigint DEFAULT 1) RETURNS integer
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT CASE p_scope WHEN 'batch' THEN 500 WHEN 'org' THEN 250 WHEN 'rule' THEN 100
                        WHEN 'probe' THEN 50 END
           * CASE WHEN p_scope = 'probe' THEN 1 ELSE least(greatest(p_blocks, 1), 20)::integer END
$$;


ALTER FUNCTION alerts.time_budget_ms(p_scope text, p_blocks bigint) OWNER TO postgres;

--
-- Name: FUNCTION list_events(p_org text, p_action text, p_before bigint, p_limit integer); Type: ACL; Schema: audit; Owner: postgres
--

REVOKE ALL ON FUNCTION audit.list_events(p_org text, p_action text, p_before bigint, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION audit.list_events(p_org text, p_action text, p_before bigint, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION audit.list_events(p_org text, p_action text, p_before bigint, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION record(p_org_id uuid, p_action text, p_target text, p_detail jsonb); Type: ACL; Schema: audit; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION audit.record(p_org_id uuid, p_action text, p_target text, p_detail jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION audit.record(p_org_id uuid, p_action text, p_target text, p_detail jsonb) TO chainlake_api;
GRANT ALL ON FUNCTION audit.record(p_org_id uuid, p_action text, p_target text, p_detail jsonb) TO chainlake_runner;

--
-- Name: FUNCTION record_query(p_orgs text[], p_detail jsonb); Type: ACL; Schema: audit; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION audit.record_query(p_orgs text[], p_detail jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION audit.record_query(p_orgs text[], p_detail jsonb) TO chainlake_authenticated;

--
-- Name: FUNCTION refuse_change(); Type: ACL; Schema: audit; Owner: postgres
--

REVOKE ALL ON FUNCTION audit.refuse_change() FROM PUBLIC;
GRANT ALL ON FUNCTION audit.refuse_change() TO chainlake_definer;

--
-- Name: SEQUENCE events_id_seq; Type: ACL; Schema: audit; Owner: postgres
--

GRANT ALL ON SEQUENCE audit.events_id_seq TO chainlake_definer;

--
-- Name: TABLE events; Type: ACL; Schema: audit; Owner: postgres
--

GRANT SELECT ON TABLE audit.events TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE audit.events TO chainlake_definer;

--
-- Name: events; Type: ROW SECURITY; Schema: audit; Owner: postgres
--

ALTER TABLE audit.events ENABLE ROW LEVEL SECURITY;

--
-- Name: events; Type: TABLE; Schema: audit; Owner: postgres
--

CREATE TABLE audit.events (
    id bigint NOT NULL,
    org_id uuid,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor_user_id uuid,
    actor_db_role name DEFAULT SESSION_USER NOT NULL,
    action text NOT NULL,
    target text DEFAULT ''::text NOT NULL,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL
);

ALTER TABLE ONLY audit.events FORCE ROW LEVEL SECURITY;


ALTER TABLE audit.events OWNER TO postgres;

--
-- Name: events admins read their orgs audit events; Type: POLICY; Schema: audit; Owner: postgres
--

CREATE POLICY "admins read their orgs audit events" ON audit.events FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: events events_append_only; Type: TRIGGER; Schema: audit; Owner: postgres
--

CREATE TRIGGER events_append_only BEFORE DELETE OR UPDATE ON audit.events FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();

--
-- Name: events events_no_truncate; Type: TRIGGER; Schema: audit; Owner: postgres
--

CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.events FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: audit; Owner: postgres
--

ALTER TABLE ONLY audit.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);

--
-- Name: events the platform's definer functions; Type: POLICY; Schema: audit; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON audit.events TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: events_id_seq; Type: SEQUENCE; Schema: audit; Owner: postgres
--

ALTER TABLE audit.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME audit.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: events_org_at_idx; Type: INDEX; Schema: audit; Owner: postgres
--

CREATE INDEX events_org_at_idx ON audit.events USING btree (org_id, at DESC);

--
-- Name: list_events(text, text, bigint, integer); Type: FUNCTION; Schema: audit; Owner: postgres
--

CREATE FUNCTION audit.list_events(p_org text, p_action text, p_before bigint, p_limit integer) RETURNS TABLE(id bigint, at timestamp with time zone, org text, actor text, actor_db_role text, action text, target text, detail jsonb)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT e.id, e.at, o.name, u.email, e.actor_db_role::text, e.action, e.target, e.detail
    FROM audit.events e
    LEFT JOIN core.orgs o ON o.id = e.org_id
    LEFT JOIN core.users u ON u.id = e.actor_user_id
    WHERE (p_org IS NULL OR o.name = p_org)
      AND (p_action IS NULL OR e.action = p_action)
      AND (p_before IS NULL OR e.id < p_before)
    ORDER BY e.id DESC
    LIMIT least(greatest(coalesce(p_limit, 100), 1), 10000)
$$;


ALTER FUNCTION audit.list_events(p_org text, p_action text, p_before bigint, p_limit integer) OWNER TO postgres;

--
-- Name: record(uuid, text, text, jsonb); Type: FUNCTION; Schema: audit; Owner: chainlake_definer
--

CREATE FUNCTION audit.record(p_org_id uuid, p_action text, p_target text DEFAULT ''::text, p_detail jsonb DEFAULT '{}'::jsonb) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    INSERT INTO audit.events (org_id, actor_user_id, actor_db_role, action, target, detail)
    VALUES (p_org_id, core.caller_user_id(), session_user, p_action, coalesce(p_target, ''),
            coalesce(p_detail, '{}'))
    RETURNING id
$$;


ALTER FUNCTION audit.record(p_org_id uuid, p_action text, p_target text, p_detail jsonb) OWNER TO chainlake_definer;

--
-- Name: record_query(text[], jsonb); Type: FUNCTION; Schema: audit; Owner: chainlake_definer
--

CREATE FUNCTION audit.record_query(p_orgs text[], p_detail jsonb) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    org record;
    n integer := 0;
BEGIN
    FOR org IN SELECT o.id FROM core.orgs o
               WHERE o.name = ANY (p_orgs)
                 AND (o.id = ANY (core.caller_org_ids('read'))
                      OR o.id = ANY (catalog.granting_org_ids())) LOOP  -- a shared dataset's org
        PERFORM audit.record(org.id, 'data.query', '', p_detail);
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        PERFORM audit.record(NULL, 'data.query', '', p_detail);
    END IF;
    RETURN n;
END
$$;


ALTER FUNCTION audit.record_query(p_orgs text[], p_detail jsonb) OWNER TO chainlake_definer;

--
-- Name: refuse_change(); Type: FUNCTION; Schema: audit; Owner: postgres
--

CREATE FUNCTION audit.refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RAISE EXCEPTION 'audit.events is append-only: % is not allowed', TG_OP
        USING ERRCODE = '42501';
END
$$;


ALTER FUNCTION audit.refuse_change() OWNER TO postgres;

--
-- Name: COLUMN datasets.created_at; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(created_at) ON TABLE catalog.datasets TO chainlake_users;

--
-- Name: COLUMN datasets.current_version; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(current_version) ON TABLE catalog.datasets TO chainlake_users;

--
-- Name: COLUMN datasets.description; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(description) ON TABLE catalog.datasets TO chainlake_users;

--
-- Name: COLUMN datasets.id; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(id) ON TABLE catalog.datasets TO chainlake_users;

--
-- Name: COLUMN datasets.name; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(name) ON TABLE catalog.datasets TO chainlake_users;

--
-- Name: COLUMN datasets.org_id; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(org_id) ON TABLE catalog.datasets TO chainlake_users;

--
-- Name: COLUMN datasets.owner_id; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(owner_id) ON TABLE catalog.datasets TO chainlake_users;

--
-- Name: COLUMN datasets.schema; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(schema) ON TABLE catalog.datasets TO chainlake_users;

--
-- Name: COLUMN datasets.tags; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(tags) ON TABLE catalog.datasets TO chainlake_users;

--
-- Name: COLUMN datasets.updated_at; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(updated_at) ON TABLE catalog.datasets TO chainlake_users;

--
-- Name: COLUMN object_grants.created_at; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT SELECT(created_at) ON TABLE catalog.object_grants TO chainlake_users;

--
-- Name: COLUMN object_grants.created_by; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT SELECT(created_by) ON TABLE catalog.object_grants TO chainlake_users;

--
-- Name: COLUMN object_grants.grantee_org_id; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT INSERT(grantee_org_id) ON TABLE catalog.object_grants TO chainlake_users;

--
-- Name: COLUMN object_grants.id; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT SELECT(id) ON TABLE catalog.object_grants TO chainlake_users;

--
-- Name: COLUMN object_grants.object_id; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT SELECT(object_id),INSERT(object_id) ON TABLE catalog.object_grants TO chainlake_users;

--
-- Name: COLUMN object_grants.object_kind; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT SELECT(object_kind),INSERT(object_kind) ON TABLE catalog.object_grants TO chainlake_users;

--
-- Name: COLUMN object_grants.org_id; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT SELECT(org_id),INSERT(org_id) ON TABLE catalog.object_grants TO chainlake_users;

--
-- Name: COLUMN object_grants.privilege; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT SELECT(privilege),INSERT(privilege) ON TABLE catalog.object_grants TO chainlake_users;

--
-- Name: COLUMN saved_queries.created_at; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(created_at) ON TABLE catalog.saved_queries TO chainlake_users;

--
-- Name: COLUMN saved_queries.description; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(description) ON TABLE catalog.saved_queries TO chainlake_users;

--
-- Name: COLUMN saved_queries.id; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(id) ON TABLE catalog.saved_queries TO chainlake_users;

--
-- Name: COLUMN saved_queries.name; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(name) ON TABLE catalog.saved_queries TO chainlake_users;

--
-- Name: COLUMN saved_queries.org_id; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(org_id) ON TABLE catalog.saved_queries TO chainlake_users;

--
-- Name: COLUMN saved_queries.owner_id; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(owner_id) ON TABLE catalog.saved_queries TO chainlake_users;

--
-- Name: COLUMN saved_queries.params; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(params) ON TABLE catalog.saved_queries TO chainlake_users;

--
-- Name: COLUMN saved_queries.sql; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(sql) ON TABLE catalog.saved_queries TO chainlake_users;

--
-- Name: COLUMN saved_queries.updated_at; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(updated_at) ON TABLE catalog.saved_queries TO chainlake_users;

--
-- Name: COLUMN saved_queries.visibility; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT UPDATE(visibility) ON TABLE catalog.saved_queries TO chainlake_users;

--
-- Name: FUNCTION asset_status(p_org text); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.asset_status(p_org text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.asset_status(p_org text) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.asset_status(p_org text) TO chainlake_users;

--
-- Name: FUNCTION asset_version(p_org text, p_dataset text, p_version integer, p_partition text); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.asset_version(p_org text, p_dataset text, p_version integer, p_partition text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.asset_version(p_org text, p_dataset text, p_version integer, p_partition text) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.asset_version(p_org text, p_dataset text, p_version integer, p_partition text) TO chainlake_users;

--
-- Name: FUNCTION asset_versions_of(p_org text, p_dataset text); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.asset_versions_of(p_org text, p_dataset text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.asset_versions_of(p_org text, p_dataset text) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.asset_versions_of(p_org text, p_dataset text) TO chainlake_users;

--
-- Name: FUNCTION chain_read(p_run runs.runs, p_input jsonb); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.chain_read(p_run runs.runs, p_input jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.chain_read(p_run runs.runs, p_input jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.chain_read(p_run runs.runs, p_input jsonb) TO chainlake_users;

--
-- Name: FUNCTION coverage(p_org_id uuid, p_dataset text); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.coverage(p_org_id uuid, p_dataset text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.coverage(p_org_id uuid, p_dataset text) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.coverage(p_org_id uuid, p_dataset text) TO chainlake_users;

--
-- Name: FUNCTION dataset_id(p_org_id uuid, p_name text, p_create boolean); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.dataset_id(p_org_id uuid, p_name text, p_create boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.dataset_id(p_org_id uuid, p_name text, p_create boolean) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.dataset_id(p_org_id uuid, p_name text, p_create boolean) TO chainlake_runner;

--
-- Name: FUNCTION dataset_named(p_org text, p_dataset text); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.dataset_named(p_org text, p_dataset text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.dataset_named(p_org text, p_dataset text) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.dataset_named(p_org text, p_dataset text) TO chainlake_users;

--
-- Name: FUNCTION delete_query(p_org text, p_name text); Type: ACL; Schema: catalog; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION catalog.delete_query(p_org text, p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.delete_query(p_org text, p_name text) TO chainlake_users;

--
-- Name: FUNCTION drop_object_grants(); Type: ACL; Schema: catalog; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION catalog.drop_object_grants() FROM PUBLIC;

--
-- Name: FUNCTION find_query(p_org text, p_name text); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.find_query(p_org text, p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.find_query(p_org text, p_name text) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.find_query(p_org text, p_name text) TO chainlake_users;

--
-- Name: FUNCTION grant_grantee(p_grant uuid); Type: ACL; Schema: catalog; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION catalog.grant_grantee(p_grant uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.grant_grantee(p_grant uuid) TO chainlake_users;

--
-- Name: FUNCTION grant_read(p_kind text, p_org text, p_name text, p_to_org text); Type: ACL; Schema: catalog; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION catalog.grant_read(p_kind text, p_org text, p_name text, p_to_org text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.grant_read(p_kind text, p_org text, p_name text, p_to_org text) TO chainlake_users;

--
-- Name: FUNCTION granted_object_ids(p_kind text); Type: ACL; Schema: catalog; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION catalog.granted_object_ids(p_kind text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.granted_object_ids(p_kind text) TO chainlake_users;

--
-- Name: FUNCTION grantee_org_id(p_name text); Type: ACL; Schema: catalog; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION catalog.grantee_org_id(p_name text) FROM PUBLIC;

--
-- Name: FUNCTION granting_org_ids(); Type: ACL; Schema: catalog; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION catalog.granting_org_ids() FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.granting_org_ids() TO chainlake_users;

--
-- Name: FUNCTION is_current_version(p_org_id uuid, p_dataset text, p_version integer); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.is_current_version(p_org_id uuid, p_dataset text, p_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.is_current_version(p_org_id uuid, p_dataset text, p_version integer) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.is_current_version(p_org_id uuid, p_dataset text, p_version integer) TO chainlake_users;

--
-- Name: FUNCTION key_of_range(p_blocks int8range); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.key_of_range(p_blocks int8range) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.key_of_range(p_blocks int8range) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.key_of_range(p_blocks int8range) TO chainlake_users;

--
-- Name: FUNCTION lineage(p_org_id uuid, p_dataset text, p_version integer, p_downstream boolean, p_depth integer); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.lineage(p_org_id uuid, p_dataset text, p_version integer, p_downstream boolean, p_depth integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.lineage(p_org_id uuid, p_dataset text, p_version integer, p_downstream boolean, p_depth integer) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.lineage(p_org_id uuid, p_dataset text, p_version integer, p_downstream boolean, p_depth integer) TO chainlake_users;

--
-- Name: FUNCTION list_assets(p_org text, p_after text, p_limit integer); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.list_assets(p_org text, p_after text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.list_assets(p_org text, p_after text, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.list_assets(p_org text, p_after text, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION list_datasets(p_after text, p_limit integer); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.list_datasets(p_after text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.list_datasets(p_after text, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.list_datasets(p_after text, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION list_grants(p_after text, p_limit integer); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.list_grants(p_after text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.list_grants(p_after text, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.list_grants(p_after text, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION list_queries(p_after text, p_limit integer); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.list_queries(p_after text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.list_queries(p_after text, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.list_queries(p_after text, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION may_dispatch(p_org_id uuid, p_job jobs.definitions, p_changed text[], p_given jsonb, p_trigger jsonb); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.may_dispatch(p_org_id uuid, p_job jobs.definitions, p_changed text[], p_given jsonb, p_trigger jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.may_dispatch(p_org_id uuid, p_job jobs.definitions, p_changed text[], p_given jsonb, p_trigger jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.may_dispatch(p_org_id uuid, p_job jobs.definitions, p_changed text[], p_given jsonb, p_trigger jsonb) TO chainlake_runner;

--
-- Name: FUNCTION may_grant(p_kind text, p_object_id uuid, p_org_id uuid); Type: ACL; Schema: catalog; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION catalog.may_grant(p_kind text, p_object_id uuid, p_org_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.may_grant(p_kind text, p_object_id uuid, p_org_id uuid) TO chainlake_users;

--
-- Name: FUNCTION on_invalidated(p_chain_id bigint, p_from bigint, p_event_id bigint); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.on_invalidated(p_chain_id bigint, p_from bigint, p_event_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.on_invalidated(p_chain_id bigint, p_from bigint, p_event_id bigint) TO chainlake_definer;

--
-- Name: FUNCTION output_problem(p_run runs.runs, p_outputs jsonb); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.output_problem(p_run runs.runs, p_outputs jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.output_problem(p_run runs.runs, p_outputs jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.output_problem(p_run runs.runs, p_outputs jsonb) TO chainlake_runner;

--
-- Name: FUNCTION output_range(p_run runs.runs, p_output jsonb); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.output_range(p_run runs.runs, p_output jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.output_range(p_run runs.runs, p_output jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.output_range(p_run runs.runs, p_output jsonb) TO chainlake_runner;

--
-- Name: FUNCTION partition_keys(p_spec jsonb, p_from text, p_to text); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.partition_keys(p_spec jsonb, p_from text, p_to text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.partition_keys(p_spec jsonb, p_from text, p_to text) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.partition_keys(p_spec jsonb, p_from text, p_to text) TO chainlake_users;

--
-- Name: FUNCTION partitions(p_org_id uuid, p_dataset text, p_from text, p_to text); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.partitions(p_org_id uuid, p_dataset text, p_from text, p_to text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.partitions(p_org_id uuid, p_dataset text, p_from text, p_to text) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.partitions(p_org_id uuid, p_dataset text, p_from text, p_to text) TO chainlake_users;

--
-- Name: FUNCTION propagated_version(p_org_id uuid, p_dataset text); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.propagated_version(p_org_id uuid, p_dataset text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.propagated_version(p_org_id uuid, p_dataset text) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.propagated_version(p_org_id uuid, p_dataset text) TO chainlake_users;

--
-- Name: FUNCTION query_context(); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.query_context() FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.query_context() TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.query_context() TO chainlake_users;

--
-- Name: FUNCTION queryable_datasets(); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.queryable_datasets() FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.queryable_datasets() TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.queryable_datasets() TO chainlake_users;

--
-- Name: FUNCTION range_of_key(p_key text); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.range_of_key(p_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.range_of_key(p_key text) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.range_of_key(p_key text) TO chainlake_users;

--
-- Name: FUNCTION record_output(p_org_id uuid, p_run_id uuid, p_output jsonb, p_duration_ms bigint); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.record_output(p_org_id uuid, p_run_id uuid, p_output jsonb, p_duration_ms bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.record_output(p_org_id uuid, p_run_id uuid, p_output jsonb, p_duration_ms bigint) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.record_output(p_org_id uuid, p_run_id uuid, p_output jsonb, p_duration_ms bigint) TO chainlake_runner;

--
-- Name: FUNCTION record_query_usage(p_orgs text[], p_seconds double precision, p_rows bigint, p_bytes_scanned bigint, p_result_bytes bigint); Type: ACL; Schema: catalog; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION catalog.record_query_usage(p_orgs text[], p_seconds double precision, p_rows bigint, p_bytes_scanned bigint, p_result_bytes bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.record_query_usage(p_orgs text[], p_seconds double precision, p_rows bigint, p_bytes_scanned bigint, p_result_bytes bigint) TO chainlake_authenticated;

--
-- Name: FUNCTION release_validated(p_run runs.runs); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.release_validated(p_run runs.runs) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.release_validated(p_run runs.runs) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.release_validated(p_run runs.runs) TO chainlake_runner;

--
-- Name: FUNCTION revoke_read(p_kind text, p_org text, p_name text, p_from_org text); Type: ACL; Schema: catalog; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION catalog.revoke_read(p_kind text, p_org text, p_name text, p_from_org text) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.revoke_read(p_kind text, p_org text, p_name text, p_from_org text) TO chainlake_users;

--
-- Name: FUNCTION rollback(p_org_id uuid, p_dataset text, p_version integer); Type: ACL; Schema: catalog; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION catalog.rollback(p_org_id uuid, p_dataset text, p_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.rollback(p_org_id uuid, p_dataset text, p_version integer) TO chainlake_users;

--
-- Name: FUNCTION rollback_problem(p_version catalog.asset_versions); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.rollback_problem(p_version catalog.asset_versions) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.rollback_problem(p_version catalog.asset_versions) TO chainlake_definer;

--
-- Name: FUNCTION save_query(p_org text, p_name text, p_sql text, p_visibility catalog.visibility, p_description text, p_params jsonb); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.save_query(p_org text, p_name text, p_sql text, p_visibility catalog.visibility, p_description text, p_params jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.save_query(p_org text, p_name text, p_sql text, p_visibility catalog.visibility, p_description text, p_params jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.save_query(p_org text, p_name text, p_sql text, p_visibility catalog.visibility, p_description text, p_params jsonb) TO chainlake_users;

--
-- Name: FUNCTION search(p_term text, p_limit integer); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.search(p_term text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.search(p_term text, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.search(p_term text, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION shareable_object(p_kind text, p_org text, p_name text, OUT org_id uuid, OUT object_id uuid); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.shareable_object(p_kind text, p_org text, p_name text, OUT org_id uuid, OUT object_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.shareable_object(p_kind text, p_org text, p_name text, OUT org_id uuid, OUT object_id uuid) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.shareable_object(p_kind text, p_org text, p_name text, OUT org_id uuid, OUT object_id uuid) TO chainlake_users;

--
-- Name: FUNCTION staleness(p_org_id uuid); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.staleness(p_org_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.staleness(p_org_id uuid) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.staleness(p_org_id uuid) TO chainlake_users;

--
-- Name: FUNCTION superseded_partitions(p_org_id uuid); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.superseded_partitions(p_org_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.superseded_partitions(p_org_id uuid) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.superseded_partitions(p_org_id uuid) TO chainlake_users;

--
-- Name: FUNCTION take_range(p_org_id uuid, p_dataset_id uuid, p_chain_id bigint, p_blocks int8range, p_version integer); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.take_range(p_org_id uuid, p_dataset_id uuid, p_chain_id bigint, p_blocks int8range, p_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.take_range(p_org_id uuid, p_dataset_id uuid, p_chain_id bigint, p_blocks int8range, p_version integer) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.take_range(p_org_id uuid, p_dataset_id uuid, p_chain_id bigint, p_blocks int8range, p_version integer) TO chainlake_runner;

--
-- Name: FUNCTION validation_holds(p_org_id uuid); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.validation_holds(p_org_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.validation_holds(p_org_id uuid) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.validation_holds(p_org_id uuid) TO chainlake_users;

--
-- Name: FUNCTION validation_state(p_org_id uuid, p_dataset text, p_version integer); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.validation_state(p_org_id uuid, p_dataset text, p_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.validation_state(p_org_id uuid, p_dataset text, p_version integer) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.validation_state(p_org_id uuid, p_dataset text, p_version integer) TO chainlake_users;

--
-- Name: FUNCTION verdicts(p_org_id uuid, p_dataset text, p_version integer); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.verdicts(p_org_id uuid, p_dataset text, p_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.verdicts(p_org_id uuid, p_dataset text, p_version integer) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.verdicts(p_org_id uuid, p_dataset text, p_version integer) TO chainlake_users;

--
-- Name: FUNCTION version_as_input(p_org_id uuid, p_dataset text, p_version integer); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.version_as_input(p_org_id uuid, p_dataset text, p_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.version_as_input(p_org_id uuid, p_dataset text, p_version integer) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.version_as_input(p_org_id uuid, p_dataset text, p_version integer) TO chainlake_runner;
GRANT ALL ON FUNCTION catalog.version_as_input(p_org_id uuid, p_dataset text, p_version integer) TO chainlake_users;

--
-- Name: FUNCTION version_state(p_version catalog.asset_versions); Type: ACL; Schema: catalog; Owner: postgres
--

REVOKE ALL ON FUNCTION catalog.version_state(p_version catalog.asset_versions) FROM PUBLIC;
GRANT ALL ON FUNCTION catalog.version_state(p_version catalog.asset_versions) TO chainlake_definer;
GRANT ALL ON FUNCTION catalog.version_state(p_version catalog.asset_versions) TO chainlake_users;

--
-- Name: SEQUENCE query_usage_id_seq; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT ALL ON SEQUENCE catalog.query_usage_id_seq TO chainlake_definer;

--
-- Name: TABLE asset_versions; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT INSERT,DELETE,UPDATE ON TABLE catalog.asset_versions TO chainlake_runner;
GRANT SELECT ON TABLE catalog.asset_versions TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE catalog.asset_versions TO chainlake_definer;

--
-- Name: TABLE datasets; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT SELECT,INSERT ON TABLE catalog.datasets TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE catalog.datasets TO chainlake_definer;

--
-- Name: TABLE object_grants; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE catalog.object_grants TO chainlake_definer;

--
-- Name: TABLE query_usage; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT SELECT ON TABLE catalog.query_usage TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE catalog.query_usage TO chainlake_definer;

--
-- Name: TABLE saved_queries; Type: ACL; Schema: catalog; Owner: postgres
--

GRANT SELECT,INSERT ON TABLE catalog.saved_queries TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE catalog.saved_queries TO chainlake_definer;

--
-- Name: asset_status(text); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.asset_status(p_org text) RETURNS SETOF jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    org uuid := runs.org_id(p_org);
BEGIN
    RETURN QUERY
    SELECT to_jsonb(s) || jsonb_build_object(
        'coverage', coalesce((SELECT jsonb_agg(to_jsonb(c))
                              FROM catalog.coverage(org, s.dataset) c), '[]'),
        'superseded', coalesce((SELECT jsonb_agg(to_jsonb(p) - 'dataset')
                                FROM catalog.superseded_partitions(org) p
                                WHERE p.dataset = s.dataset), '[]'),
        'held', coalesce((SELECT jsonb_agg(to_jsonb(h) - 'dataset')
                          FROM catalog.validation_holds(org) h WHERE h.dataset = s.dataset),
                         '[]'))
    FROM catalog.staleness(org) s ORDER BY s.dataset;
END
$$;


ALTER FUNCTION catalog.asset_status(p_org text) OWNER TO postgres;

--
-- Name: asset_version(text, text, integer, text); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.asset_version(p_org text, p_dataset text, p_version integer DEFAULT NULL::integer, p_partition text DEFAULT NULL::text) RETURNS TABLE(version integer, partition text, uris text[], manifest jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    d catalog.datasets := catalog.dataset_named(p_org, p_dataset);
BEGIN
    RETURN QUERY
    SELECT v.version, nullif(v.partition, ''), v.uris, v.manifest::jsonb
    FROM catalog.asset_versions v
    WHERE v.org_id = d.org_id AND v.dataset_id = d.id
      AND (p_version IS NULL OR v.version = p_version)
      AND (p_partition IS NULL OR v.partition = p_partition)
      AND (p_version IS NOT NULL OR p_partition IS NOT NULL OR v.version = d.current_version)
    ORDER BY v.version DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dataset "%" has no such version or partition', p_dataset
            USING ERRCODE = '42704',
            HINT = 'list its versions with `chainlake asset versions DATASET`';
    END IF;
END
$$;


ALTER FUNCTION catalog.asset_version(p_org text, p_dataset text, p_version integer, p_partition text) OWNER TO postgres;

--
-- Name: asset_versions; Type: ROW SECURITY; Schema: catalog; Owner: postgres
--

ALTER TABLE catalog.asset_versions ENABLE ROW LEVEL SECURITY;

--
-- Name: asset_versions; Type: TABLE; Schema: catalog; Owner: postgres
--

CREATE TABLE catalog.asset_versions (
    org_id uuid NOT NULL,
    dataset_id uuid NOT NULL,
    version integer NOT NULL,
    partition text DEFAULT ''::text NOT NULL,
    run_id uuid NOT NULL,
    content_hash text NOT NULL,
    uris text[] DEFAULT '{}'::text[] NOT NULL,
    manifest jsonb DEFAULT '{}'::jsonb NOT NULL,
    row_count bigint,
    bytes bigint,
    schema jsonb,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    duration_ms bigint,
    needs_rebuild_at timestamp with time zone,
    rebuild_reason text,
    chain_id bigint,
    blocks int8range,
    superseded_at timestamp with time zone,
    superseded_reason text,
    superseded_by_event bigint,
    superseded_by_version integer,
    CONSTRAINT asset_versions_chain_has_blocks CHECK (((chain_id IS NULL) OR (blocks IS NOT NULL))),
    CONSTRAINT asset_versions_superseded_reason CHECK ((((superseded_reason = ANY (ARRAY['reorg'::text, 'replaced'::text])) AND (superseded_at IS NOT NULL)) OR ((superseded_reason IS NULL) AND (superseded_at IS NULL))))
);

ALTER TABLE ONLY catalog.asset_versions FORCE ROW LEVEL SECURITY;


ALTER TABLE catalog.asset_versions OWNER TO postgres;

--
-- Name: asset_versions asset_versions_current_ranges_disjoint; Type: CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.asset_versions
    ADD CONSTRAINT asset_versions_current_ranges_disjoint EXCLUDE USING gist (org_id WITH =, dataset_id WITH =, COALESCE(chain_id, ('-1'::integer)::bigint) WITH =, blocks WITH &&) WHERE (((blocks IS NOT NULL) AND (superseded_at IS NULL)));

--
-- Name: asset_versions asset_versions_org_id_dataset_id_fkey; Type: FK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.asset_versions
    ADD CONSTRAINT asset_versions_org_id_dataset_id_fkey FOREIGN KEY (org_id, dataset_id) REFERENCES catalog.datasets(org_id, id) ON DELETE CASCADE;

--
-- Name: asset_versions asset_versions_org_id_fkey; Type: FK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.asset_versions
    ADD CONSTRAINT asset_versions_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: asset_versions asset_versions_partition_key; Type: CHECK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE catalog.asset_versions
    ADD CONSTRAINT asset_versions_partition_key CHECK (((partition = ''::text) OR (partition ~ '\A[A-Za-z0-9][A-Za-z0-9_.=-]{0,127}\Z'::text))) NOT VALID;

--
-- Name: asset_versions asset_versions_pkey; Type: CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.asset_versions
    ADD CONSTRAINT asset_versions_pkey PRIMARY KEY (org_id, dataset_id, version);

--
-- Name: asset_versions members read their orgs rows; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON catalog.asset_versions FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: asset_versions orgs granted a dataset read its versions; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "orgs granted a dataset read its versions" ON catalog.asset_versions FOR SELECT TO chainlake_users USING ((dataset_id = ANY (( SELECT catalog.granted_object_ids('dataset'::text) AS granted_object_ids)::uuid[])));

--
-- Name: asset_versions runners write for the org they act for; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "runners write for the org they act for" ON catalog.asset_versions TO chainlake_runner USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: asset_versions the platform's definer functions; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON catalog.asset_versions TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: asset_versions_content_key; Type: INDEX; Schema: catalog; Owner: postgres
--

CREATE UNIQUE INDEX asset_versions_content_key ON catalog.asset_versions USING btree (org_id, dataset_id, partition, content_hash) WHERE (superseded_reason IS DISTINCT FROM 'reorg'::text);

--
-- Name: asset_versions_current_chain_ranges_idx; Type: INDEX; Schema: catalog; Owner: postgres
--

CREATE INDEX asset_versions_current_chain_ranges_idx ON catalog.asset_versions USING gist (chain_id, blocks) WHERE ((chain_id IS NOT NULL) AND (superseded_at IS NULL));

--
-- Name: asset_versions_dataset_idx; Type: INDEX; Schema: catalog; Owner: postgres
--

CREATE INDEX asset_versions_dataset_idx ON catalog.asset_versions USING btree (dataset_id);

--
-- Name: asset_versions_of(text, text); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.asset_versions_of(p_org text, p_dataset text) RETURNS TABLE(version integer, current boolean, partition text, run_id uuid, job_name text, job_version text, row_count bigint, bytes bigint, content_hash text, schema jsonb, metadata jsonb, created_at timestamp with time zone, duration_ms bigint, uris text[], needs_rebuild_at timestamp with time zone, rebuild_reason text, state jsonb)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT v.version, CASE WHEN v.blocks IS NULL THEN v.version = d.current_version
                      ELSE v.superseded_at IS NULL END,
           v.partition, v.run_id, r.job_name, r.job_version, v.row_count::bigint,
           v.bytes::bigint, v.content_hash::text, v.schema::jsonb, v.metadata::jsonb,
           v.created_at, v.duration_ms::bigint, v.uris, v.needs_rebuild_at,
           v.rebuild_reason::text, catalog.version_state(v)
    FROM catalog.dataset_named(p_org, p_dataset) d
    JOIN catalog.asset_versions v ON v.org_id = d.org_id AND v.dataset_id = d.id
    LEFT JOIN runs.runs r ON r.org_id = v.org_id AND r.id = v.run_id
    ORDER BY v.version
$$;


ALTER FUNCTION catalog.asset_versions_of(p_org text, p_dataset text) OWNER TO postgres;

--
-- Name: asset_versions_run_idx; Type: INDEX; Schema: catalog; Owner: postgres
--

CREATE INDEX asset_versions_run_idx ON catalog.asset_versions USING btree (org_id, run_id);

--
-- Name: asset_versions_superseded_event_idx; Type: INDEX; Schema: catalog; Owner: postgres
--

CREATE INDEX asset_versions_superseded_event_idx ON catalog.asset_versions USING btree (superseded_by_event) WHERE (superseded_by_event IS NOT NULL);

--
-- Name: chain_read(runs.runs, jsonb); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.chain_read(p_run runs.runs, p_input jsonb) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT jsonb_build_object(
        'chain_id', (p_input ->> 'chain_id')::bigint,
        'from_block', (p_input ->> 'from_block')::bigint,
        'to_block', (p_input ->> 'to_block')::bigint,
        'first_hash', '0x' || encode(ci.first_hash, 'hex'),
        'last_hash', '0x' || encode(ci.last_hash, 'hex'),
        'events_through', ci.events_through,
        'invalidated_by', (
            SELECT jsonb_build_object('event', e.id, 'from_block', e.from_block, 'at', e.at,
                                      'reorg', g.id, 'fork_block', g.fork_block, 'depth', g.depth)
            FROM chain.events e LEFT JOIN chain.reorgs g ON g.event_id = e.id
            WHERE e.chain_id = (p_input ->> 'chain_id')::bigint AND e.kind = 'invalidated'
              AND e.from_block <= (p_input ->> 'to_block')::bigint
              AND e.to_block >= (p_input ->> 'from_block')::bigint
              AND e.id > least(ci.events_through, CASE WHEN p_run.trigger ->> 'kind' = 'chain'
                                                       THEN (p_run.trigger ->> 'event')::bigint END)
            ORDER BY e.id LIMIT 1))
    FROM (SELECT 1) one
    LEFT JOIN runs.chain_inputs ci
      ON ci.org_id = p_run.org_id AND ci.run_id = p_run.id AND ci.attempt = p_run.attempt
     AND ci.dataset = p_input ->> 'dataset'
$$;


ALTER FUNCTION catalog.chain_read(p_run runs.runs, p_input jsonb) OWNER TO postgres;

--
-- Name: coverage(uuid, text); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.coverage(p_org_id uuid, p_dataset text) RETURNS TABLE(chain_id bigint, first_block bigint, last_block bigint, partitions integer, missing_blocks bigint)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT v.chain_id, min(lower(v.blocks)), max(upper(v.blocks)) - 1, count(*)::integer,
           (max(upper(v.blocks)) - min(lower(v.blocks)) - sum(upper(v.blocks) - lower(v.blocks)))::bigint
    FROM catalog.asset_versions v
    JOIN catalog.datasets d ON d.org_id = v.org_id AND d.id = v.dataset_id
    WHERE d.org_id = p_org_id AND d.name = p_dataset AND v.blocks IS NOT NULL
      AND v.superseded_at IS NULL
    GROUP BY v.chain_id
    ORDER BY v.chain_id
$$;


ALTER FUNCTION catalog.coverage(p_org_id uuid, p_dataset text) OWNER TO postgres;

--
-- Name: dataset_id(uuid, text, boolean); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.dataset_id(p_org_id uuid, p_name text, p_create boolean) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    found_id uuid;
BEGIN
    SELECT id INTO found_id FROM catalog.datasets WHERE org_id = p_org_id AND name = p_name;
    IF found_id IS NULL AND p_create THEN
        INSERT INTO catalog.datasets (org_id, name) VALUES (p_org_id, p_name)
        ON CONFLICT ON CONSTRAINT datasets_name_key DO NOTHING
        RETURNING id INTO found_id;
        IF found_id IS NULL THEN
            SELECT id INTO found_id FROM catalog.datasets WHERE org_id = p_org_id AND name = p_name;
        END IF;
    END IF;
    RETURN found_id;
END
$$;


ALTER FUNCTION catalog.dataset_id(p_org_id uuid, p_name text, p_create boolean) OWNER TO postgres;

--
-- Name: dataset_named(text, text); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.dataset_named(p_org text, p_dataset text) RETURNS catalog.datasets
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    match catalog.datasets;
BEGIN
    SELECT d.* INTO match FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id
    WHERE o.name = p_org AND d.name = p_dataset;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown dataset "%" in org "%"', p_dataset, p_org USING ERRCODE = '42704',
            HINT = 'list datasets with `chainlake asset list --org ORG`';
    END IF;
    RETURN match;
END
$$;


ALTER FUNCTION catalog.dataset_named(p_org text, p_dataset text) OWNER TO postgres;

--
-- Name: datasets; Type: ROW SECURITY; Schema: catalog; Owner: postgres
--

ALTER TABLE catalog.datasets ENABLE ROW LEVEL SECURITY;

--
-- Name: datasets; Type: TABLE; Schema: catalog; Owner: postgres
--

CREATE TABLE catalog.datasets (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    name text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    owner_id uuid,
    tags text[] DEFAULT '{}'::text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    current_version integer,
    schema jsonb,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY catalog.datasets FORCE ROW LEVEL SECURITY;


ALTER TABLE catalog.datasets OWNER TO postgres;

--
-- Name: datasets datasets_drop_grants; Type: TRIGGER; Schema: catalog; Owner: postgres
--

CREATE TRIGGER datasets_drop_grants AFTER DELETE ON catalog.datasets FOR EACH ROW EXECUTE FUNCTION catalog.drop_object_grants('dataset');

--
-- Name: datasets datasets_name_format; Type: CHECK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE catalog.datasets
    ADD CONSTRAINT datasets_name_format CHECK ((name ~ '\A[a-z0-9][a-z0-9_.-]{0,62}\Z'::text)) NOT VALID;

--
-- Name: datasets datasets_name_key; Type: CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.datasets
    ADD CONSTRAINT datasets_name_key UNIQUE (org_id, name);

--
-- Name: datasets datasets_org_id_fkey; Type: FK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.datasets
    ADD CONSTRAINT datasets_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: datasets datasets_owner_id_fkey; Type: FK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.datasets
    ADD CONSTRAINT datasets_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES core.users(id) ON DELETE SET NULL;

--
-- Name: datasets datasets_pkey; Type: CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.datasets
    ADD CONSTRAINT datasets_pkey PRIMARY KEY (org_id, id);

--
-- Name: datasets datasets_stamp_owner; Type: TRIGGER; Schema: catalog; Owner: postgres
--

CREATE TRIGGER datasets_stamp_owner BEFORE INSERT OR UPDATE ON catalog.datasets FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('owner_id');

--
-- Name: datasets members read their orgs rows; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON catalog.datasets FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: datasets orgs granted a dataset read it; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "orgs granted a dataset read it" ON catalog.datasets FOR SELECT TO chainlake_users USING ((id = ANY (( SELECT catalog.granted_object_ids('dataset'::text) AS granted_object_ids)::uuid[])));

--
-- Name: datasets the platform's definer functions; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON catalog.datasets TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: datasets writers add rows to their orgs; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "writers add rows to their orgs" ON catalog.datasets FOR INSERT TO chainlake_users WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: datasets writers change their orgs rows; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "writers change their orgs rows" ON catalog.datasets FOR UPDATE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: datasets writers delete their orgs rows; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "writers delete their orgs rows" ON catalog.datasets FOR DELETE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: datasets_id_idx; Type: INDEX; Schema: catalog; Owner: postgres
--

CREATE INDEX datasets_id_idx ON catalog.datasets USING btree (id);

--
-- Name: delete_query(text, text); Type: FUNCTION; Schema: catalog; Owner: chainlake_definer
--

CREATE FUNCTION catalog.delete_query(p_org text, p_name text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    gone integer;
BEGIN
    DELETE FROM catalog.saved_queries q USING core.orgs o
    WHERE o.id = q.org_id AND o.name = p_org AND q.name = p_name
      AND q.owner_id = core.caller_user_id() AND q.org_id = ANY (core.caller_org_ids('member'));
    GET DIAGNOSTICS gone = ROW_COUNT;
    IF gone = 0 THEN
        RAISE EXCEPTION 'you have no saved query "%" in org "%"', p_name, p_org
            USING ERRCODE = '42704';
    END IF;
    RETURN gone;
END
$$;


ALTER FUNCTION catalog.delete_query(p_org text, p_name text) OWNER TO chainlake_definer;

--
-- Name: drop_object_grants(); Type: FUNCTION; Schema: catalog; Owner: chainlake_definer
--

CREATE FUNCTION catalog.drop_object_grants() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    DELETE FROM catalog.object_grants g
    WHERE g.object_kind = TG_ARGV[0] AND g.object_id = OLD.id;
    RETURN NULL;
END
$$;


ALTER FUNCTION catalog.drop_object_grants() OWNER TO chainlake_definer;

--
-- Name: find_query(text, text); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.find_query(p_org text, p_name text) RETURNS SETOF catalog.saved_queries
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT q.* FROM catalog.saved_queries q JOIN core.orgs o ON o.id = q.org_id
    WHERE o.name = p_org AND q.name = p_name
    ORDER BY (q.owner_id = core.caller_user_id()) DESC, q.updated_at DESC
    LIMIT 1
$$;


ALTER FUNCTION catalog.find_query(p_org text, p_name text) OWNER TO postgres;

--
-- Name: grant_grantee(uuid); Type: FUNCTION; Schema: catalog; Owner: chainlake_definer
--

CREATE FUNCTION catalog.grant_grantee(p_grant uuid) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    found text;
BEGIN
    SELECT o.name INTO found
    FROM catalog.object_grants g JOIN core.orgs o ON o.id = g.grantee_org_id
    WHERE g.id = p_grant
      AND (g.org_id = ANY (core.caller_org_ids('admin')) OR g.created_by = core.caller_user_id()
           OR g.grantee_org_id = ANY (core.caller_org_ids('member')));
    RETURN found;
END
$$;


ALTER FUNCTION catalog.grant_grantee(p_grant uuid) OWNER TO chainlake_definer;

--
-- Name: grant_read(text, text, text, text); Type: FUNCTION; Schema: catalog; Owner: chainlake_definer
--

CREATE FUNCTION catalog.grant_read(p_kind text, p_org text, p_name text, p_to_org text) RETURNS TABLE(kind text, org text, name text, grantee text, created_at timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    target record;
    grantee uuid := catalog.grantee_org_id(p_to_org);
    created catalog.object_grants;
BEGIN
    SELECT * INTO target FROM catalog.shareable_object(p_kind, p_org, p_name);
    IF grantee = target.org_id THEN
        RAISE EXCEPTION 'org "%" already reads its own % "%"', p_to_org, p_kind, p_name
            USING ERRCODE = '22023', HINT = 'share with another org';
    END IF;
    IF NOT catalog.may_grant(p_kind, target.object_id, target.org_id) THEN
        RAISE EXCEPTION 'you may not share % "%" of org "%"', p_kind, p_name, p_org
            USING ERRCODE = '42501',
            HINT = CASE p_kind WHEN 'dataset' THEN 'an admin of the org shares its datasets'
                   ELSE 'the owner shares a saved query, as a writer of its org' END;
    END IF;
    INSERT INTO catalog.object_grants (org_id, object_kind, object_id, grantee_org_id)
    VALUES (target.org_id, p_kind, target.object_id, grantee)
    ON CONFLICT (object_kind, object_id, grantee_org_id) DO NOTHING
    RETURNING * INTO created;
    IF created.id IS NULL THEN
        RAISE EXCEPTION '% "%" of org "%" is already shared with org "%"', p_kind, p_name, p_org,
            p_to_org USING ERRCODE = '23505';
    END IF;
    RETURN QUERY SELECT p_kind, p_org, p_name, p_to_org, created.created_at;
END
$$;


ALTER FUNCTION catalog.grant_read(p_kind text, p_org text, p_name text, p_to_org text) OWNER TO chainlake_definer;

--
-- Name: granted_object_ids(text); Type: FUNCTION; Schema: catalog; Owner: chainlake_definer
--

CREATE FUNCTION catalog.granted_object_ids(p_kind text) RETURNS uuid[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    result uuid[];
BEGIN
    SELECT coalesce(array_agg(g.object_id), '{}') INTO result
    FROM catalog.object_grants g
    WHERE g.object_kind = p_kind AND g.grantee_org_id = ANY (core.caller_org_ids('member'));
    RETURN result;
END
$$;


ALTER FUNCTION catalog.granted_object_ids(p_kind text) OWNER TO chainlake_definer;

--
-- Name: grantee_org_id(text); Type: FUNCTION; Schema: catalog; Owner: chainlake_definer
--

CREATE FUNCTION catalog.grantee_org_id(p_name text) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    found uuid;
BEGIN
    SELECT id INTO found FROM core.orgs WHERE name = p_name;
    IF found IS NULL THEN
        RAISE EXCEPTION 'unknown org "%"', p_name USING ERRCODE = '42704',
            HINT = 'name the org to share with exactly as it is spelled';
    END IF;
    RETURN found;
END
$$;


ALTER FUNCTION catalog.grantee_org_id(p_name text) OWNER TO chainlake_definer;

--
-- Name: granting_org_ids(); Type: FUNCTION; Schema: catalog; Owner: chainlake_definer
--

CREATE FUNCTION catalog.granting_org_ids() RETURNS uuid[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    result uuid[];
BEGIN
    SELECT coalesce(array_agg(DISTINCT g.org_id), '{}') INTO result
    FROM catalog.object_grants g
    WHERE g.grantee_org_id = ANY (core.caller_org_ids('member'));
    RETURN result;
END
$$;


ALTER FUNCTION catalog.granting_org_ids() OWNER TO chainlake_definer;

--
-- Name: is_current_version(uuid, text, integer); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.is_current_version(p_org_id uuid, p_dataset text, p_version integer) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT coalesce(bool_or(CASE WHEN v.blocks IS NOT NULL THEN v.superseded_at IS NULL
                                 ELSE v.version = d.current_version END), false)
    FROM catalog.datasets d JOIN catalog.asset_versions v
      ON v.org_id = d.org_id AND v.dataset_id = d.id AND v.version = p_version
    WHERE d.org_id = p_org_id AND d.name = p_dataset
$$;


ALTER FUNCTION catalog.is_current_version(p_org_id uuid, p_dataset text, p_version integer) OWNER TO postgres;

--
-- Name: key_of_range(int8range); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.key_of_range(p_blocks int8range) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT lower(p_blocks)::text || '-' || (upper(p_blocks) - 1)::text
$$;


ALTER FUNCTION catalog.key_of_range(p_blocks int8range) OWNER TO postgres;

--
-- Name: lineage(uuid, text, integer, boolean, integer); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.lineage(p_org_id uuid, p_dataset text, p_version integer, p_downstream boolean, p_depth integer) RETURNS TABLE(depth integer, input_dataset text, input_version integer, input_range jsonb, run_id uuid, job text, job_version text, output_dataset text, output_version integer, output_partition text, output_state jsonb)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH RECURSIVE inputs AS (
        SELECT i.org_id, i.run_id, di.name AS input_dataset, i.version AS input_version,
               NULL::jsonb AS input_range
        FROM runs.run_inputs i
        JOIN catalog.datasets di ON di.org_id = i.org_id AND di.id = i.dataset_id
        WHERE i.org_id = p_org_id
        UNION ALL
        SELECT r.org_id, r.id, c ->> 'dataset', NULL, catalog.chain_read(r, c)
        FROM runs.runs r CROSS JOIN LATERAL jsonb_array_elements(r.inputs) c
        WHERE r.org_id = p_org_id AND r.status = 'succeeded' AND c ? 'chain_id'
    ), edges AS (
        SELECT i.input_dataset, i.input_version, i.input_range, r.id AS run_id, r.job_name,
               r.job_version, dv.name AS output_dataset, v.version AS output_version,
               v.partition AS output_partition, catalog.version_state(v) AS output_state
        FROM inputs i
        JOIN runs.runs r ON r.org_id = i.org_id AND r.id = i.run_id
        JOIN catalog.asset_versions v ON v.org_id = r.org_id AND v.run_id = r.id
        JOIN catalog.datasets dv ON dv.org_id = v.org_id AND dv.id = v.dataset_id
    ), walk AS (
        SELECT 1 AS depth, e.* FROM edges e
        WHERE CASE WHEN p_downstream
                   THEN e.input_dataset = p_dataset AND e.input_version = p_version
                   ELSE e.output_dataset = p_dataset AND e.output_version = p_version END
        UNION
        SELECT w.depth + 1, e.* FROM walk w JOIN edges e
          ON CASE WHEN p_downstream
                  THEN e.input_dataset = w.output_dataset AND e.input_version = w.output_version
                  ELSE e.output_dataset = w.input_dataset AND e.output_version = w.input_version END
        WHERE w.depth < p_depth
    )
    SELECT depth, input_dataset, input_version, input_range, run_id, job_name, job_version,
           output_dataset, output_version, output_partition, output_state
    FROM walk ORDER BY depth, input_dataset, output_dataset, output_version
$$;


ALTER FUNCTION catalog.lineage(p_org_id uuid, p_dataset text, p_version integer, p_downstream boolean, p_depth integer) OWNER TO postgres;

--
-- Name: list_assets(text, text, integer); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.list_assets(p_org text DEFAULT NULL::text, p_after text DEFAULT NULL::text, p_limit integer DEFAULT 1000) RETURNS TABLE(org text, name text, current_version integer, versions bigint, needs_rebuild bigint, updated_at timestamp with time zone)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT o.name, d.name, d.current_version,
           (SELECT count(*) FROM catalog.asset_versions v
            WHERE v.org_id = d.org_id AND v.dataset_id = d.id),
           (SELECT count(*) FROM catalog.asset_versions v
            WHERE v.org_id = d.org_id AND v.dataset_id = d.id AND v.needs_rebuild_at IS NOT NULL),
           d.updated_at
    FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id
    WHERE (p_org IS NULL OR o.name = p_org)
      AND (p_after IS NULL OR o.name || '/' || d.name > p_after)
    ORDER BY o.name || '/' || d.name
    LIMIT least(greatest(coalesce(p_limit, 1000), 1), 10000)
$$;


ALTER FUNCTION catalog.list_assets(p_org text, p_after text, p_limit integer) OWNER TO postgres;

--
-- Name: list_datasets(text, integer); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.list_datasets(p_after text, p_limit integer) RETURNS TABLE(org text, name text, current_version integer, description text, updated_at timestamp with time zone, needs_rebuild integer)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT o.name, d.name, d.current_version, d.description, d.updated_at,
           (SELECT count(*)::integer FROM catalog.asset_versions v
            WHERE v.org_id = d.org_id AND v.dataset_id = d.id AND v.needs_rebuild_at IS NOT NULL)
    FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id
    WHERE p_after IS NULL OR (o.name || '/' || d.name) > p_after
    ORDER BY o.name || '/' || d.name
    LIMIT least(greatest(p_limit, 1), 1000)
$$;


ALTER FUNCTION catalog.list_datasets(p_after text, p_limit integer) OWNER TO postgres;

--
-- Name: list_grants(text, integer); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.list_grants(p_after text, p_limit integer) RETURNS TABLE(kind text, org text, name text, grantee text, granted_by text, created_at timestamp with time zone, cursor text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT g.object_kind, o.name, coalesce(d.name, q.name), catalog.grant_grantee(g.id),
           u.email, g.created_at, g.created_at::text || '/' || g.id
    FROM catalog.object_grants g
    JOIN core.orgs o ON o.id = g.org_id
    LEFT JOIN catalog.datasets d ON g.object_kind = 'dataset' AND d.id = g.object_id
    LEFT JOIN catalog.saved_queries q ON g.object_kind = 'saved_query' AND q.id = g.object_id
    LEFT JOIN core.users u ON u.id = g.created_by
    WHERE p_after IS NULL OR (g.created_at::text || '/' || g.id) > p_after
    ORDER BY g.created_at::text || '/' || g.id
    LIMIT least(greatest(p_limit, 1), 1000)
$$;


ALTER FUNCTION catalog.list_grants(p_after text, p_limit integer) OWNER TO postgres;

--
-- Name: list_queries(text, integer); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.list_queries(p_after text, p_limit integer) RETURNS TABLE(org text, name text, owner text, visibility catalog.visibility, description text, params jsonb, sql text, updated_at timestamp with time zone, cursor text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT o.name, q.name, u.email, q.visibility, q.description, q.params, q.sql, q.updated_at,
           o.name || '/' || q.name || '/' || q.id
    FROM catalog.saved_queries q
    JOIN core.orgs o ON o.id = q.org_id
    LEFT JOIN core.users u ON u.id = q.owner_id
    WHERE p_after IS NULL OR (o.name || '/' || q.name || '/' || q.id) > p_after
    ORDER BY o.name || '/' || q.name || '/' || q.id
    LIMIT least(greatest(p_limit, 1), 1000)
$$;


ALTER FUNCTION catalog.list_queries(p_after text, p_limit integer) OWNER TO postgres;

--
-- Name: may_dispatch(uuid, jobs.definitions, text[], jsonb, jsonb); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.may_dispatch(p_org_id uuid, p_job jobs.definitions, p_changed text[], p_given jsonb, p_trigger jsonb) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT CASE WHEN p_job.spec ->> 'type' = 'validate'
                THEN p_trigger ->> 'kind' IS DISTINCT FROM 'validated'
                ELSE NOT EXISTS (
                    SELECT 1 FROM unnest(p_changed) changed
                    WHERE changed = ANY (p_job.input_datasets)
                      AND catalog.validation_state(p_org_id, changed, coalesce(
                              (SELECT core.try_int(g ->> 'version')
                               FROM jsonb_array_elements(p_given) g
                               WHERE g ->> 'dataset' = changed LIMIT 1),
                              catalog.propagated_version(p_org_id, changed)))
                          NOT IN ('none', 'passed'))
           END
$$;


ALTER FUNCTION catalog.may_dispatch(p_org_id uuid, p_job jobs.definitions, p_changed text[], p_given jsonb, p_trigger jsonb) OWNER TO postgres;

--
-- Name: may_grant(text, uuid, uuid); Type: FUNCTION; Schema: catalog; Owner: chainlake_definer
--

CREATE FUNCTION catalog.may_grant(p_kind text, p_object_id uuid, p_org_id uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF p_kind = 'dataset' THEN
        RETURN p_org_id = ANY (core.caller_org_ids('admin'))
           AND EXISTS (SELECT 1 FROM catalog.datasets d
                       WHERE d.id = p_object_id AND d.org_id = p_org_id);
    ELSIF p_kind = 'saved_query' THEN
        RETURN p_org_id = ANY (core.caller_org_ids('write'))
           AND EXISTS (SELECT 1 FROM catalog.saved_queries q
                       WHERE q.id = p_object_id AND q.org_id = p_org_id
                         AND q.owner_id = core.caller_user_id());
    END IF;
    RETURN false;
END
$$;


ALTER FUNCTION catalog.may_grant(p_kind text, p_object_id uuid, p_org_id uuid) OWNER TO chainlake_definer;

--
-- Name: object_grants; Type: ROW SECURITY; Schema: catalog; Owner: postgres
--

ALTER TABLE catalog.object_grants ENABLE ROW LEVEL SECURITY;

--
-- Name: object_grants; Type: TABLE; Schema: catalog; Owner: postgres
--

CREATE TABLE catalog.object_grants (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    object_kind text NOT NULL,
    object_id uuid NOT NULL,
    grantee_org_id uuid NOT NULL,
    privilege text DEFAULT 'read'::text NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT object_grants_kind CHECK ((object_kind = ANY (ARRAY['dataset'::text, 'saved_query'::text]))),
    CONSTRAINT object_grants_not_self CHECK ((org_id <> grantee_org_id)),
    CONSTRAINT object_grants_privilege CHECK ((privilege = 'read'::text))
);

ALTER TABLE ONLY catalog.object_grants FORCE ROW LEVEL SECURITY;


ALTER TABLE catalog.object_grants OWNER TO postgres;

--
-- Name: object_grants grantors and grantees see grants; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "grantors and grantees see grants" ON catalog.object_grants FOR SELECT TO chainlake_users USING (((org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[])) OR (created_by = ( SELECT core.caller_user_id() AS caller_user_id)) OR (grantee_org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[]))));

--
-- Name: object_grants object_grants_audited; Type: TRIGGER; Schema: catalog; Owner: postgres
--

CREATE TRIGGER object_grants_audited AFTER INSERT OR DELETE OR UPDATE ON catalog.object_grants FOR EACH ROW EXECUTE FUNCTION core.audit_access_change();

--
-- Name: object_grants object_grants_created_by_fkey; Type: FK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.object_grants
    ADD CONSTRAINT object_grants_created_by_fkey FOREIGN KEY (created_by) REFERENCES core.users(id) ON DELETE SET NULL;

--
-- Name: object_grants object_grants_grantee_org_id_fkey; Type: FK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.object_grants
    ADD CONSTRAINT object_grants_grantee_org_id_fkey FOREIGN KEY (grantee_org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: object_grants object_grants_key; Type: CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.object_grants
    ADD CONSTRAINT object_grants_key UNIQUE (object_kind, object_id, grantee_org_id);

--
-- Name: object_grants object_grants_org_id_fkey; Type: FK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.object_grants
    ADD CONSTRAINT object_grants_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: object_grants object_grants_pkey; Type: CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.object_grants
    ADD CONSTRAINT object_grants_pkey PRIMARY KEY (org_id, id);

--
-- Name: object_grants object_grants_stamp_creator; Type: TRIGGER; Schema: catalog; Owner: postgres
--

CREATE TRIGGER object_grants_stamp_creator BEFORE INSERT OR UPDATE ON catalog.object_grants FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');

--
-- Name: object_grants sharers and admins revoke grants; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "sharers and admins revoke grants" ON catalog.object_grants FOR DELETE TO chainlake_users USING (((org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[])) OR catalog.may_grant(object_kind, object_id, org_id)));

--
-- Name: object_grants sharers grant their objects; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "sharers grant their objects" ON catalog.object_grants FOR INSERT TO chainlake_users WITH CHECK (catalog.may_grant(object_kind, object_id, org_id));

--
-- Name: object_grants the platform's definer functions; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON catalog.object_grants TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: object_grants_grantee_idx; Type: INDEX; Schema: catalog; Owner: postgres
--

CREATE INDEX object_grants_grantee_idx ON catalog.object_grants USING btree (grantee_org_id, object_kind);

--
-- Name: on_invalidated(bigint, bigint, bigint); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.on_invalidated(p_chain_id bigint, p_from bigint, p_event_id bigint) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    superseded integer;
BEGIN
    UPDATE catalog.asset_versions v
    SET superseded_at = now(), superseded_reason = 'reorg', superseded_by_event = p_event_id
    WHERE v.chain_id = p_chain_id AND v.superseded_at IS NULL AND v.blocks && int8range(p_from, NULL);
    GET DIAGNOSTICS superseded = ROW_COUNT;
    IF superseded > 0 THEN  -- what dependants are given as "current" is never superseded
        UPDATE catalog.datasets d
        SET current_version = (SELECT max(c.version) FROM catalog.asset_versions c
                               WHERE c.org_id = d.org_id AND c.dataset_id = d.id
                                 AND c.superseded_at IS NULL),
            updated_at = now()
        WHERE (d.org_id, d.id) IN (SELECT v.org_id, v.dataset_id FROM catalog.asset_versions v
                                   WHERE v.superseded_by_event = p_event_id);
    END IF;
    PERFORM runs.queue_recomputes(p_chain_id, p_from, p_event_id);
    RETURN superseded;
END
$$;


ALTER FUNCTION catalog.on_invalidated(p_chain_id bigint, p_from bigint, p_event_id bigint) OWNER TO postgres;

--
-- Name: output_problem(runs.runs, jsonb); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.output_problem(p_run runs.runs, p_outputs jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    output jsonb;
    placed record;
    clash record;
    ds uuid;
BEGIN
    PERFORM core.lock_until_commit('catalog.version', d.id)
    FROM (SELECT DISTINCT catalog.dataset_id(p_run.org_id, o ->> 'dataset', false) AS id
          FROM jsonb_array_elements(coalesce(p_outputs, '[]')) o) d
    WHERE d.id IS NOT NULL ORDER BY d.id;
    FOR output IN SELECT * FROM jsonb_array_elements(coalesce(p_outputs, '[]')) LOOP
        SELECT * INTO placed FROM catalog.output_range(p_run, output);
        IF placed.problem IS NOT NULL THEN
            RETURN placed.problem;
        END IF;
        CONTINUE WHEN placed.blocks IS NULL OR runs.overtaken_by(p_run) IS NOT NULL;
        ds := catalog.dataset_id(p_run.org_id, output ->> 'dataset', false);
        SELECT v.version, v.blocks INTO clash FROM catalog.asset_versions v
        WHERE v.org_id = p_run.org_id AND v.dataset_id = ds AND v.superseded_at IS NULL
          AND coalesce(v.chain_id, -1) = coalesce(placed.chain_id, -1)
          AND v.blocks && placed.blocks AND v.blocks <> placed.blocks
        ORDER BY lower(v.blocks) LIMIT 1;
        IF FOUND THEN
            RETURN format('output %s partition %s overlaps the current partition %s (version %s), '
                          'which this run was not asked to replace', output ->> 'dataset',
                          placed.partition, catalog.key_of_range(clash.blocks), clash.version);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;


ALTER FUNCTION catalog.output_problem(p_run runs.runs, p_outputs jsonb) OWNER TO postgres;

--
-- Name: output_range(runs.runs, jsonb); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.output_range(p_run runs.runs, p_output jsonb) RETURNS TABLE(chain_id bigint, blocks int8range, partition text, problem text)
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    key text := coalesce(p_output ->> 'partition', '');
    reported int8range := catalog.range_of_key(key);
    given_count integer;
    given_keys text;
    matched_chain bigint;
BEGIN
    SELECT count(*), string_agg(catalog.key_of_range(g.blocks)
                                || coalesce(' of chain ' || g.chain_id, ''), ', '
                                ORDER BY lower(g.blocks))
    INTO given_count, given_keys FROM runs.given_ranges(p_run) g;
    IF key = '' AND given_count = 1 THEN
        RETURN QUERY SELECT g.chain_id, g.blocks, catalog.key_of_range(g.blocks), NULL::text
                     FROM runs.given_ranges(p_run) g;
        RETURN;
    END IF;
    IF reported IS NULL OR given_count = 0 THEN
        RETURN QUERY SELECT NULL::bigint, NULL::int8range, key, NULL::text;
        RETURN;
    END IF;
    SELECT count(*), min(g.chain_id) INTO given_count, matched_chain FROM runs.given_ranges(p_run) g
    WHERE g.blocks = reported;
    IF given_count = 0 THEN
        RETURN QUERY SELECT NULL::bigint, NULL::int8range, key,
            format('output %s reports partition %s, which is not the block range it was given (%s)',
                   p_output ->> 'dataset', key, given_keys);
        RETURN;
    END IF;
    -- the same numbers of two chains: which chain is not known, so the key is not a range
    RETURN QUERY SELECT CASE WHEN given_count = 1 THEN matched_chain END,
                        CASE WHEN given_count = 1 THEN reported END, key, NULL::text;
END
$$;


ALTER FUNCTION catalog.output_range(p_run runs.runs, p_output jsonb) OWNER TO postgres;

--
-- Name: partition_keys(jsonb, text, text); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.partition_keys(p_spec jsonb, p_from text, p_to text) RETURNS TABLE(key text, lo text, hi text)
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    size bigint;
BEGIN
    IF p_spec ->> 'kind' = 'block_range' THEN
        size := (p_spec ->> 'size')::bigint;
        IF p_from !~ '^[0-9]+$' OR p_to !~ '^[0-9]+$' OR p_from::bigint > p_to::bigint THEN
            RAISE EXCEPTION 'a block range needs FROM <= TO, both block numbers (got % .. %)',
                p_from, p_to USING ERRCODE = '22023';
        END IF;
        IF (p_to::bigint - p_from::bigint) / size >= 100000 THEN
            RAISE EXCEPTION 'a range of at most 100000 partitions (got % .. %)', p_from, p_to
                USING ERRCODE = '22023';
        END IF;
        RETURN QUERY
            SELECT s::text || '-' || (s + size - 1)::text, s::text, (s + size - 1)::text
            FROM generate_series((p_from::bigint / size) * size, p_to::bigint, size) s;
    ELSIF p_spec ->> 'kind' = 'date' THEN
        IF p_from !~ '^\d{4}-\d{2}-\d{2}$' OR p_to !~ '^\d{4}-\d{2}-\d{2}$' OR p_from > p_to THEN
            RAISE EXCEPTION 'a date range needs FROM <= TO as YYYY-MM-DD (got % .. %)', p_from, p_to
                USING ERRCODE = '22023';
        END IF;
        BEGIN
            PERFORM p_from::date, p_to::date;
        EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
            RAISE EXCEPTION 'not a date: % .. %', p_from, p_to USING ERRCODE = '22023';
        END;
        IF p_to::date - p_from::date >= 100000 THEN
            RAISE EXCEPTION 'a range of at most 100000 partitions (got % .. %)', p_from, p_to
                USING ERRCODE = '22023';
        END IF;
        RETURN QUERY
            SELECT d::date::text, d::date::text, d::date::text
            FROM generate_series(p_from::date, p_to::date, interval '1 day') d;
    ELSE
        RAISE EXCEPTION 'this dataset is not partitioned' USING ERRCODE = '22023',
            HINT = 'declare `partitions: {kind: block_range, size: N}` or `{kind: date}` in its job';
    END IF;
END
$_$;


ALTER FUNCTION catalog.partition_keys(p_spec jsonb, p_from text, p_to text) OWNER TO postgres;

--
-- Name: partitions(uuid, text, text, text); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.partitions(p_org_id uuid, p_dataset text, p_from text, p_to text) RETURNS TABLE(key text, version integer, uris text[], run_status text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH producer AS (
        SELECT (jobs.producer(p_org_id, p_dataset)).*
    ), latest_runs AS (
        SELECT DISTINCT ON (r.params ->> 'partition') r.params ->> 'partition' AS key, r.status
        FROM runs.runs r, producer
        WHERE r.org_id = p_org_id AND r.job_name = producer.name
          AND r.params ? 'partition'
        ORDER BY r.params ->> 'partition', r.created_at DESC
    ), latest_versions AS (
        SELECT DISTINCT ON (av.partition) av.partition AS key, av.version, av.uris
        FROM catalog.asset_versions av
        JOIN catalog.datasets d ON d.org_id = av.org_id AND d.id = av.dataset_id
        WHERE av.org_id = p_org_id AND d.name = p_dataset AND av.superseded_at IS NULL
        ORDER BY av.partition, av.version DESC
    )
    SELECT k.key, v.version, v.uris, lr.status
    FROM producer,
         catalog.partition_keys(producer.spec -> 'partitions', p_from, p_to)
             WITH ORDINALITY AS k (key, lo, hi, n)
    LEFT JOIN latest_versions v ON v.key = k.key
    LEFT JOIN latest_runs lr ON lr.key = k.key
    ORDER BY k.n
$$;


ALTER FUNCTION catalog.partitions(p_org_id uuid, p_dataset text, p_from text, p_to text) OWNER TO postgres;

--
-- Name: propagated_version(uuid, text); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.propagated_version(p_org_id uuid, p_dataset text) RETURNS integer
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM jobs.current_definitions(p_org_id) val
                         WHERE val.kind = 'reactive' AND val.spec ->> 'type' = 'validate'
                           AND p_dataset = ANY (val.input_datasets))
        THEN d.current_version
        ELSE (SELECT v.version FROM catalog.asset_versions v
              WHERE v.org_id = d.org_id AND v.dataset_id = d.id AND v.version <= d.current_version
                AND v.superseded_reason IS DISTINCT FROM 'reorg'
                AND catalog.validation_state(p_org_id, p_dataset, v.version) IN ('none', 'passed')
              ORDER BY v.version DESC LIMIT 1) END
    FROM catalog.datasets d WHERE d.org_id = p_org_id AND d.name = p_dataset
$$;


ALTER FUNCTION catalog.propagated_version(p_org_id uuid, p_dataset text) OWNER TO postgres;

--
-- Name: query_context(); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.query_context() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    me uuid := core.caller_user_id();
    mine uuid[] := core.caller_org_ids('member');
BEGIN  -- plpgsql: its plan is cached per session (a sql function is planned on every call)
    RETURN jsonb_build_object(
        'limits', (SELECT jsonb_build_object('timeout_ms', max(q.query_timeout_ms),
                                             'memory_mb', max(q.query_memory_mb))
                   FROM core.quotas q),
        'chains', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'chain_id', c.chain_id, 'archived_to', c.archived_to,
                       'version', (SELECT max(e.id) FROM chain.events e
                                   WHERE e.chain_id = c.chain_id)) ORDER BY c.chain_id)
            FROM chain.chains c), '[]'),
        'cold', coalesce((
            SELECT jsonb_agg(k.files ORDER BY k.chain_id, k.from_block)
            FROM chain.chunks k JOIN chain.chains c USING (chain_id)
            WHERE k.to_block <= c.archived_to), '[]'),
        'datasets', coalesce((
            SELECT jsonb_agg(jsonb_build_object('org', d.org_name, 'name', d.dataset,
                                                'uris', d.uris) ORDER BY d.n)
            FROM catalog.queryable_datasets() WITH ORDINALITY
                 AS d(org_name, dataset, version, uris, row_count, n)), '[]'),
        'saved', coalesce((
            SELECT jsonb_agg(jsonb_build_object('org', s.org, 'name', s.name, 'sql', s.sql,
                                                'params', s.params, 'shared', s.rank = 2)
                             ORDER BY s.rank, s.org, s.name, s.id)
            FROM (SELECT o.name AS org, q.name, q.sql, q.params, q.id,
                         CASE WHEN q.owner_id = me THEN 0
                              WHEN q.org_id = ANY (mine) THEN 1 ELSE 2 END AS rank
                  FROM catalog.saved_queries q JOIN core.orgs o ON o.id = q.org_id
                  ORDER BY 6, 1, 2, q.id
                  LIMIT 1000) s), '[]'));
END
$$;


ALTER FUNCTION catalog.query_context() OWNER TO postgres;

--
-- Name: query_usage; Type: ROW SECURITY; Schema: catalog; Owner: postgres
--

ALTER TABLE catalog.query_usage ENABLE ROW LEVEL SECURITY;

--
-- Name: query_usage; Type: TABLE; Schema: catalog; Owner: postgres
--

CREATE TABLE catalog.query_usage (
    org_id uuid NOT NULL,
    id bigint NOT NULL,
    user_id uuid,
    at timestamp with time zone DEFAULT now() NOT NULL,
    seconds double precision NOT NULL,
    row_count bigint,
    bytes_scanned bigint,
    result_bytes bigint,
    CONSTRAINT query_usage_figures CHECK (((seconds >= (0)::double precision) AND (row_count >= 0)))
);

ALTER TABLE ONLY catalog.query_usage FORCE ROW LEVEL SECURITY;


ALTER TABLE catalog.query_usage OWNER TO postgres;

--
-- Name: query_usage members read their orgs query usage; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "members read their orgs query usage" ON catalog.query_usage FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: query_usage query_usage_org_id_fkey; Type: FK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.query_usage
    ADD CONSTRAINT query_usage_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: query_usage query_usage_pkey; Type: CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.query_usage
    ADD CONSTRAINT query_usage_pkey PRIMARY KEY (org_id, id);

--
-- Name: query_usage the platform's definer functions; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON catalog.query_usage TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: query_usage_id_seq; Type: SEQUENCE; Schema: catalog; Owner: postgres
--

ALTER TABLE catalog.query_usage ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME catalog.query_usage_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: query_usage_org_at_idx; Type: INDEX; Schema: catalog; Owner: postgres
--

CREATE INDEX query_usage_org_at_idx ON catalog.query_usage USING btree (org_id, at);

--
-- Name: queryable_datasets(); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.queryable_datasets() RETURNS TABLE(org_name text, dataset text, version integer, uris text[], row_count bigint)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH latest AS (
        SELECT DISTINCT ON (d.id, av.partition, av.chain_id)
               o.name AS org_name, d.name AS dataset, d.id, av.version, av.uris, av.row_count
        FROM catalog.datasets d
        JOIN core.orgs o ON o.id = d.org_id
        JOIN catalog.asset_versions av ON av.org_id = d.org_id AND av.dataset_id = d.id
        WHERE cardinality(av.uris) > 0 AND av.superseded_at IS NULL
        ORDER BY d.id, av.partition, av.chain_id, av.version DESC
    )
    SELECT l.org_name, l.dataset, max(l.version),
           (SELECT array_agg(u ORDER BY u) FROM latest l2 CROSS JOIN LATERAL unnest(l2.uris) u
            WHERE l2.id = l.id),
           sum(l.row_count)::bigint
    FROM latest l
    GROUP BY l.org_name, l.dataset, l.id
    ORDER BY l.org_name, l.dataset
$$;


ALTER FUNCTION catalog.queryable_datasets() OWNER TO postgres;

--
-- Name: range_of_key(text); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.range_of_key(p_key text) RETURNS int8range
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
    SELECT int8range(split_part(p_key, '-', 1)::bigint, split_part(p_key, '-', 2)::bigint, '[]')
    WHERE p_key ~ '^[0-9]{1,18}-[0-9]{1,18}$'
      AND split_part(p_key, '-', 1)::bigint <= split_part(p_key, '-', 2)::bigint
$_$;


ALTER FUNCTION catalog.range_of_key(p_key text) OWNER TO postgres;

--
-- Name: record_output(uuid, uuid, jsonb, bigint); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.record_output(p_org_id uuid, p_run_id uuid, p_output jsonb, p_duration_ms bigint) RETURNS TABLE(version integer, is_new boolean, current_changed boolean)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    was_current integer;
    ds uuid := catalog.dataset_id(p_org_id, p_output ->> 'dataset', true);
    run runs.runs;
    placed record;
    overtaken bigint;
    hash text := coalesce(p_output ->> 'content_hash',
                          md5(coalesce(p_output -> 'uris', '[]')::text));
    existing catalog.asset_versions;
    next_version integer;
BEGIN
    -- a block-range output (sql/catalog/58_supersession.sql): its range, and whether an invalidation of
    -- blocks the run read overtook it (then it is kept as a superseded version, never current)
    SELECT * INTO run FROM runs.runs r WHERE r.org_id = p_org_id AND r.id = p_run_id;
    SELECT * INTO placed FROM catalog.output_range(run, p_output);
    overtaken := runs.overtaken_by(run);
    PERFORM core.lock_until_commit('catalog.version', ds);  -- one new version at a time
    SELECT d.current_version INTO was_current FROM catalog.datasets d
    WHERE d.org_id = p_org_id AND d.id = ds;
    SELECT * INTO existing FROM catalog.asset_versions v
    WHERE v.org_id = p_org_id AND v.dataset_id = ds AND v.partition = placed.partition
      AND v.content_hash = hash AND v.superseded_reason IS DISTINCT FROM 'reorg';
    IF existing.version IS NOT NULL AND overtaken IS NULL THEN
        IF existing.superseded_at IS NOT NULL THEN  -- a range it was replaced in: back
            PERFORM catalog.take_range(p_org_id, ds, existing.chain_id, existing.blocks,
                                       existing.version);
        END IF;
        IF existing.blocks IS NULL OR existing.superseded_at IS NOT NULL THEN
            UPDATE catalog.datasets SET current_version = existing.version, updated_at = now()
            WHERE org_id = p_org_id AND id = ds;
        END IF;
        RETURN QUERY SELECT existing.version, false,
            CASE WHEN existing.blocks IS NULL THEN existing.version IS DISTINCT FROM was_current
                 ELSE existing.superseded_at IS NOT NULL END;
        RETURN;
    END IF;
    PERFORM core.check_storage_quota(p_org_id, (p_output ->> 'bytes')::bigint);
    SELECT coalesce(max(v.version), 0) + 1 INTO next_version FROM catalog.asset_versions v
    WHERE v.org_id = p_org_id AND v.dataset_id = ds;
    IF placed.blocks IS NOT NULL AND overtaken IS NULL THEN
        PERFORM catalog.take_range(p_org_id, ds, placed.chain_id, placed.blocks, next_version);
    END IF;
    INSERT INTO catalog.asset_versions (org_id, dataset_id, version, partition, run_id,
        content_hash, uris, manifest, row_count, bytes, schema, metadata, duration_ms, chain_id,
        blocks, superseded_at, superseded_reason, superseded_by_event)
    VALUES (p_org_id, ds, next_version, placed.partition, p_run_id, hash,
            ARRAY(SELECT jsonb_array_elements_text(coalesce(p_output -> 'uris', '[]'))),
            coalesce(p_output -> 'manifest', '{}'), (p_output ->> 'rows')::bigint,
            (p_output ->> 'bytes')::bigint, p_output -> 'schema',
            coalesce(p_output -> 'metadata', '{}'), p_duration_ms, placed.chain_id, placed.blocks,
            CASE WHEN overtaken IS NOT NULL THEN now() END,
            CASE WHEN overtaken IS NOT NULL THEN 'reorg' END, overtaken);
    IF overtaken IS NOT NULL THEN
        RETURN QUERY SELECT next_version, true, false;
        RETURN;
    END IF;
    UPDATE catalog.datasets SET current_version = next_version, updated_at = now(),
                                schema = coalesce(p_output -> 'schema', schema)
    WHERE org_id = p_org_id AND id = ds;
    RETURN QUERY SELECT next_version, true, true;
END
$$;


ALTER FUNCTION catalog.record_output(p_org_id uuid, p_run_id uuid, p_output jsonb, p_duration_ms bigint) OWNER TO postgres;

--
-- Name: record_query_usage(text[], double precision, bigint, bigint, bigint); Type: FUNCTION; Schema: catalog; Owner: chainlake_definer
--

CREATE FUNCTION catalog.record_query_usage(p_orgs text[], p_seconds double precision, p_rows bigint, p_bytes_scanned bigint, p_result_bytes bigint) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    charged uuid;
BEGIN
    SELECT o.id INTO charged FROM core.orgs o
    WHERE o.id = ANY (core.caller_org_ids('member'))
    ORDER BY o.name = ANY (coalesce(p_orgs, '{}')) DESC, o.name
    LIMIT 1;
    IF charged IS NULL THEN
        RETURN NULL;  -- the operator, or a caller of no org: nothing to charge
    END IF;
    INSERT INTO catalog.query_usage (org_id, user_id, seconds, row_count, bytes_scanned,
                                     result_bytes)
    VALUES (charged, core.caller_user_id(), greatest(p_seconds, 0), CASE WHEN p_rows >= 0 THEN p_rows END,
            p_bytes_scanned, p_result_bytes);
    RETURN charged;
END
$$;


ALTER FUNCTION catalog.record_query_usage(p_orgs text[], p_seconds double precision, p_rows bigint, p_bytes_scanned bigint, p_result_bytes bigint) OWNER TO chainlake_definer;

--
-- Name: release_validated(runs.runs); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.release_validated(p_run runs.runs) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    given jsonb;
    released integer := 0;
BEGIN
    IF (SELECT f.spec ->> 'type' FROM jobs.definitions f
        WHERE f.org_id = p_run.org_id AND f.id = p_run.definition_id) IS DISTINCT FROM 'validate' THEN
        RETURN 0;
    END IF;
    FOR given IN SELECT i FROM jsonb_array_elements(p_run.inputs) i WHERE i ? 'version' LOOP
        -- validators of one version finishing at once: the last one sees the others' verdicts
        PERFORM core.lock_until_commit('catalog.validate', md5(format('%s:%s:%s',
            p_run.org_id, given ->> 'dataset', given ->> 'version'))::uuid);
        CONTINUE WHEN catalog.validation_state(p_run.org_id, given ->> 'dataset',
                                               core.try_int(given ->> 'version')) <> 'passed'
                   OR NOT catalog.is_current_version(p_run.org_id, given ->> 'dataset',
                                                     core.try_int(given ->> 'version'));
        released := released + runs.dispatch_dependants(
            p_run.org_id, ARRAY[given ->> 'dataset'],
            jsonb_build_array(catalog.version_as_input(p_run.org_id, given ->> 'dataset',
                                                       core.try_int(given ->> 'version'))),
            jsonb_build_object('kind', 'validated', 'dataset', given ->> 'dataset',
                               'version', core.try_int(given ->> 'version'),
                               'upstream_run', p_run.id,
                               'root_run', coalesce(p_run.trigger ->> 'root_run', p_run.id::text)),
            format('validated:%s:%s', given ->> 'dataset', given ->> 'version'));
    END LOOP;
    RETURN released;
END
$$;


ALTER FUNCTION catalog.release_validated(p_run runs.runs) OWNER TO postgres;

--
-- Name: revoke_read(text, text, text, text); Type: FUNCTION; Schema: catalog; Owner: chainlake_definer
--

CREATE FUNCTION catalog.revoke_read(p_kind text, p_org text, p_name text, p_from_org text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    target record;
    grantee uuid := catalog.grantee_org_id(p_from_org);
BEGIN
    SELECT * INTO target FROM catalog.shareable_object(p_kind, p_org, p_name);
    DELETE FROM catalog.object_grants g
    WHERE g.object_kind = p_kind AND g.object_id = target.object_id
      AND g.grantee_org_id = grantee
      AND (g.org_id = ANY (core.caller_org_ids('admin'))
           OR catalog.may_grant(g.object_kind, g.object_id, g.org_id));
    IF NOT FOUND THEN
        RAISE EXCEPTION '% "%" of org "%" is not shared with org "%" (or you may not revoke it)',
            p_kind, p_name, p_org, p_from_org USING ERRCODE = '42704';
    END IF;
END
$$;


ALTER FUNCTION catalog.revoke_read(p_kind text, p_org text, p_name text, p_from_org text) OWNER TO chainlake_definer;

--
-- Name: rollback(uuid, text, integer); Type: FUNCTION; Schema: catalog; Owner: chainlake_definer
--

CREATE FUNCTION catalog.rollback(p_org_id uuid, p_dataset text, p_version integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    input jsonb;
    queued integer;
    target catalog.asset_versions;
    refused text;
BEGIN
    IF NOT core.caller_may_write(p_org_id) THEN
        RAISE EXCEPTION 'unknown dataset "%"', p_dataset USING ERRCODE = '42704';
    END IF;
    IF catalog.dataset_id(p_org_id, p_dataset, false) IS NULL THEN
        RAISE EXCEPTION 'unknown dataset "%"', p_dataset USING ERRCODE = '42704',
            HINT = 'list datasets with `chainlake asset list`';
    END IF;
    input := catalog.version_as_input(p_org_id, p_dataset, p_version);
    IF input IS NULL THEN
        RAISE EXCEPTION 'dataset "%" has no version %', p_dataset, p_version USING ERRCODE = '42704',
            HINT = 'list its versions with `chainlake asset versions DATASET`';
    END IF;
    SELECT * INTO target FROM catalog.asset_versions v
    WHERE v.org_id = p_org_id AND v.dataset_id = catalog.dataset_id(p_org_id, p_dataset, false)
      AND v.version = p_version;
    refused := catalog.rollback_problem(target);  -- a block range: sql/catalog/58_supersession.sql
    IF refused IS NOT NULL THEN
        RAISE EXCEPTION '%', refused USING ERRCODE = '55000',
            HINT = 'roll back to a version of a range still on the chain, or rerun its job';
    END IF;
    IF target.blocks IS NOT NULL THEN
        PERFORM catalog.take_range(p_org_id, target.dataset_id, target.chain_id, target.blocks,
                                   p_version);
    END IF;
    UPDATE catalog.datasets SET current_version = p_version, updated_at = now()
    WHERE org_id = p_org_id AND name = p_dataset;
    queued := runs.dispatch_dependants(
        p_org_id, ARRAY[p_dataset], jsonb_build_array(input),
        jsonb_build_object('kind', 'rerun', 'rollback', p_dataset, 'version', p_version),
        format('rollback:%s', gen_random_uuid()));
    PERFORM audit.record(p_org_id, 'asset.rollback', p_dataset, jsonb_build_object('version', p_version));
    RETURN queued;
END
$$;


ALTER FUNCTION catalog.rollback(p_org_id uuid, p_dataset text, p_version integer) OWNER TO chainlake_definer;

--
-- Name: rollback_problem(catalog.asset_versions); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.rollback_problem(p_version catalog.asset_versions) RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT coalesce(
        (SELECT format('version %s (blocks %s of chain %s) was built from blocks that the '
                       'invalidation of blocks %s..%s of chain %s removed', p_version.version,
                       p_version.partition, p_version.chain_id, e.from_block, e.to_block,
                       e.chain_id)
         FROM chain.events e
         WHERE p_version.chain_id IS NOT NULL AND e.chain_id = p_version.chain_id
           AND e.kind = 'invalidated' AND int8range(e.from_block, e.to_block, '[]') && p_version.blocks
           AND (e.id = p_version.superseded_by_event OR e.at >= p_version.created_at)
         ORDER BY e.id LIMIT 1),
        (SELECT format('version %s (partition %s) overlaps the current partition %s (version %s)',
                       p_version.version, p_version.partition, catalog.key_of_range(c.blocks),
                       c.version)
         FROM catalog.asset_versions c
         WHERE c.org_id = p_version.org_id AND c.dataset_id = p_version.dataset_id
           AND c.superseded_at IS NULL AND c.version <> p_version.version
           AND coalesce(c.chain_id, -1) = coalesce(p_version.chain_id, -1)
           AND c.blocks && p_version.blocks AND c.blocks <> p_version.blocks
         ORDER BY lower(c.blocks) LIMIT 1))
$$;


ALTER FUNCTION catalog.rollback_problem(p_version catalog.asset_versions) OWNER TO postgres;

--
-- Name: save_query(text, text, text, catalog.visibility, text, jsonb); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.save_query(p_org text, p_name text, p_sql text, p_visibility catalog.visibility, p_description text DEFAULT ''::text, p_params jsonb DEFAULT '{}'::jsonb) RETURNS catalog.saved_queries
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    org uuid := (SELECT id FROM core.orgs WHERE name = p_org);
    saved catalog.saved_queries;
BEGIN
    IF org IS NULL OR NOT org = ANY (core.caller_org_ids('member')) THEN
        RAISE EXCEPTION 'unknown org "%"', p_org USING ERRCODE = '42704',
            HINT = 'save a query in an org you belong to';
    END IF;
    IF length(coalesce(p_sql, '')) = 0 THEN
        RAISE EXCEPTION 'a saved query needs its SQL' USING ERRCODE = '22023';
    END IF;
    INSERT INTO catalog.saved_queries AS q (org_id, owner_id, name, sql, visibility, description,
                                            params)
    VALUES (org, core.caller_user_id(), p_name, p_sql, p_visibility, coalesce(p_description, ''),
            coalesce(p_params, '{}'))
    ON CONFLICT (org_id, owner_id, name) DO UPDATE
        SET sql = excluded.sql, visibility = excluded.visibility,
            description = excluded.description, params = excluded.params, updated_at = now()
    RETURNING * INTO saved;
    RETURN saved;
END
$$;


ALTER FUNCTION catalog.save_query(p_org text, p_name text, p_sql text, p_visibility catalog.visibility, p_description text, p_params jsonb) OWNER TO postgres;

--
-- Name: saved_queries; Type: ROW SECURITY; Schema: catalog; Owner: postgres
--

ALTER TABLE catalog.saved_queries ENABLE ROW LEVEL SECURITY;

--
-- Name: saved_queries; Type: TABLE; Schema: catalog; Owner: postgres
--

CREATE TABLE catalog.saved_queries (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    owner_id uuid NOT NULL,
    name text NOT NULL,
    sql text NOT NULL,
    visibility catalog.visibility DEFAULT 'private'::catalog.visibility NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    params jsonb DEFAULT '{}'::jsonb NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT saved_queries_name_format CHECK ((name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'::text)),
    CONSTRAINT saved_queries_params_object CHECK ((jsonb_typeof(params) = 'object'::text))
);

ALTER TABLE ONLY catalog.saved_queries FORCE ROW LEVEL SECURITY;


ALTER TABLE catalog.saved_queries OWNER TO postgres;

--
-- Name: saved_queries members add their own rows; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "members add their own rows" ON catalog.saved_queries FOR INSERT TO chainlake_users WITH CHECK (((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])) AND (owner_id = ( SELECT core.caller_user_id() AS caller_user_id)) AND ((visibility = 'private'::catalog.visibility) OR (org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])))));

--
-- Name: saved_queries orgs granted a query read it; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "orgs granted a query read it" ON catalog.saved_queries FOR SELECT TO chainlake_users USING ((id = ANY (( SELECT catalog.granted_object_ids('saved_query'::text) AS granted_object_ids)::uuid[])));

--
-- Name: saved_queries owners and their org read shared rows; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "owners and their org read shared rows" ON catalog.saved_queries FOR SELECT TO chainlake_users USING (((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])) AND ((visibility = 'org'::catalog.visibility) OR (owner_id = ( SELECT core.caller_user_id() AS caller_user_id)))));

--
-- Name: saved_queries owners change their own rows; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "owners change their own rows" ON catalog.saved_queries FOR UPDATE TO chainlake_users USING (((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])) AND (owner_id = ( SELECT core.caller_user_id() AS caller_user_id)))) WITH CHECK (((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])) AND (owner_id = ( SELECT core.caller_user_id() AS caller_user_id)) AND ((visibility = 'private'::catalog.visibility) OR (org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])))));

--
-- Name: saved_queries owners or admins delete rows; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "owners or admins delete rows" ON catalog.saved_queries FOR DELETE TO chainlake_users USING (((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])) AND ((owner_id = ( SELECT core.caller_user_id() AS caller_user_id)) OR ((visibility = 'org'::catalog.visibility) AND (org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[]))))));

--
-- Name: saved_queries saved_queries_drop_grants; Type: TRIGGER; Schema: catalog; Owner: postgres
--

CREATE TRIGGER saved_queries_drop_grants AFTER DELETE ON catalog.saved_queries FOR EACH ROW EXECUTE FUNCTION catalog.drop_object_grants('saved_query');

--
-- Name: saved_queries saved_queries_name_key; Type: CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.saved_queries
    ADD CONSTRAINT saved_queries_name_key UNIQUE (org_id, owner_id, name);

--
-- Name: saved_queries saved_queries_org_id_fkey; Type: FK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.saved_queries
    ADD CONSTRAINT saved_queries_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: saved_queries saved_queries_owner_id_fkey; Type: FK CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.saved_queries
    ADD CONSTRAINT saved_queries_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES core.users(id) ON DELETE CASCADE;

--
-- Name: saved_queries saved_queries_pkey; Type: CONSTRAINT; Schema: catalog; Owner: postgres
--

ALTER TABLE ONLY catalog.saved_queries
    ADD CONSTRAINT saved_queries_pkey PRIMARY KEY (org_id, id);

--
-- Name: saved_queries the platform's definer functions; Type: POLICY; Schema: catalog; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON catalog.saved_queries TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: saved_queries_id_idx; Type: INDEX; Schema: catalog; Owner: postgres
--

CREATE INDEX saved_queries_id_idx ON catalog.saved_queries USING btree (id);

--
-- Name: search(text, integer); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.search(p_term text, p_limit integer DEFAULT 50) RETURNS TABLE(kind text, org text, name text, matched text, description text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH term AS (SELECT '%' || replace(replace(replace(lower(p_term), '\', '\\'), '%', '\%'),
                                         '_', '\_') || '%' AS pattern),
    hits AS (
        SELECT 'dataset' AS kind, o.name AS org, d.name,
               CASE WHEN lower(d.name) LIKE t.pattern THEN 'name'
                    WHEN lower(d.description) LIKE t.pattern THEN 'description'
                    ELSE 'tag' END AS matched, d.description
        FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id, term t
        WHERE lower(d.name) LIKE t.pattern OR lower(d.description) LIKE t.pattern
           OR EXISTS (SELECT 1 FROM unnest(d.tags) tag WHERE lower(tag) LIKE t.pattern)
        UNION ALL
        SELECT 'column', o.name, d.name || '.' || (c ->> 'name'), 'column', d.description
        FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id, term t,
             jsonb_array_elements(CASE WHEN jsonb_typeof(d.schema) = 'array' THEN d.schema
                                       ELSE '[]' END) c
        WHERE lower(c ->> 'name') LIKE t.pattern
        UNION ALL
        SELECT 'job', o.name, j.name,
               CASE WHEN lower(j.name) LIKE t.pattern THEN 'name' ELSE 'description' END,
               coalesce(j.spec ->> 'description', '')
        FROM jobs.current_definitions_visible() j JOIN core.orgs o ON o.id = j.org_id, term t
        WHERE lower(j.name) LIKE t.pattern
           OR lower(coalesce(j.spec ->> 'description', '')) LIKE t.pattern
           OR lower(coalesce(j.spec ->> 'type', '')) LIKE t.pattern
        UNION ALL
        SELECT 'saved_query', q.org, q.name,
               CASE WHEN lower(q.name) LIKE t.pattern THEN 'name' ELSE 'description' END,
               q.description
        FROM catalog.list_queries(NULL, 1000) q, term t
        WHERE lower(q.name) LIKE t.pattern OR lower(q.description) LIKE t.pattern
    )
    SELECT kind, org, name, matched, description FROM hits
    ORDER BY (matched = 'name') DESC, kind, org, name
    LIMIT least(greatest(p_limit, 1), 500)
$$;


ALTER FUNCTION catalog.search(p_term text, p_limit integer) OWNER TO postgres;

--
-- Name: shareable_object(text, text, text); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.shareable_object(p_kind text, p_org text, p_name text, OUT org_id uuid, OUT object_id uuid) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF p_kind = 'dataset' THEN
        SELECT d.org_id, d.id INTO org_id, object_id
        FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id
        WHERE o.name = p_org AND d.name = p_name AND d.org_id = ANY (core.caller_org_ids('member'));
        IF object_id IS NULL THEN
            RAISE EXCEPTION 'org "%" has no dataset "%" that you can see', p_org, p_name
                USING ERRCODE = '42704', HINT = 'list datasets with `chainlake dataset list`';
        END IF;
    ELSIF p_kind = 'saved_query' THEN
        SELECT q.org_id, q.id INTO org_id, object_id
        FROM catalog.saved_queries q JOIN core.orgs o ON o.id = q.org_id
        WHERE o.name = p_org AND q.name = p_name AND q.owner_id = core.caller_user_id();
        IF object_id IS NULL THEN
            RAISE EXCEPTION 'you have no saved query "%" in org "%"', p_name, p_org
                USING ERRCODE = '42704', HINT = 'only the owner of a saved query may share it';
        END IF;
    ELSE
        RAISE EXCEPTION 'cannot share a "%"', p_kind USING ERRCODE = '22023',
            HINT = 'share a dataset or a saved_query';
    END IF;
END
$$;


ALTER FUNCTION catalog.shareable_object(p_kind text, p_org text, p_name text, OUT org_id uuid, OUT object_id uuid) OWNER TO postgres;

--
-- Name: staleness(uuid); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.staleness(p_org_id uuid) RETURNS TABLE(dataset text, current_version integer, job text, built_with text, job_now text, stale boolean, reasons text[])
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH cur AS (
        SELECT d.id, d.name, d.current_version, v.run_id, r.job_name, r.job_version
        FROM catalog.datasets d
        JOIN catalog.asset_versions v
          ON v.org_id = d.org_id AND v.dataset_id = d.id AND v.version = d.current_version
        LEFT JOIN runs.runs r ON r.org_id = v.org_id AND r.id = v.run_id
        WHERE d.org_id = p_org_id
    ), reasons AS (
        SELECT c.id,
               array_remove(ARRAY(
                   SELECT format('input %s is at version %s; this was built from version %s',
                                 di.name, di.current_version, i.version)
                   FROM runs.run_inputs i
                   JOIN catalog.datasets di ON di.org_id = i.org_id AND di.id = i.dataset_id
                   WHERE i.org_id = p_org_id AND i.run_id = c.run_id
                     AND di.current_version IS DISTINCT FROM i.version
                   ORDER BY di.name)
                 || CASE WHEN (jobs.current_definition(p_org_id, c.job_name)).version
                              IS DISTINCT FROM c.job_version
                         THEN format('job %s is at version %s; this was built by version %s',
                                     c.job_name,
                                     (jobs.current_definition(p_org_id, c.job_name)).version,
                                     c.job_version)
                    END, NULL) AS why
        FROM cur c
    )
    SELECT c.name, c.current_version, c.job_name, c.job_version,
           (jobs.current_definition(p_org_id, c.job_name)).version,
           cardinality(r.why) > 0, r.why
    FROM cur c JOIN reasons r ON r.id = c.id
    ORDER BY c.name
$$;


ALTER FUNCTION catalog.staleness(p_org_id uuid) OWNER TO postgres;

--
-- Name: superseded_partitions(uuid); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.superseded_partitions(p_org_id uuid) RETURNS TABLE(dataset text, version integer, partition text, chain_id bigint, reorg_id bigint, invalidated_from bigint, superseded_at timestamp with time zone, waiting boolean)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT s.dataset, s.version, s.partition, s.chain_id, s.reorg_id, s.invalidated_from,
           s.superseded_at, s.waiting
    FROM (
        SELECT d.name AS dataset, v.version, v.partition, v.chain_id, g.id AS reorg_id,
               e.from_block AS invalidated_from, v.superseded_at,
               NOT EXISTS (SELECT 1 FROM catalog.asset_versions c
                           WHERE c.org_id = v.org_id AND c.dataset_id = v.dataset_id
                             AND c.chain_id = v.chain_id AND c.superseded_at IS NULL
                             AND c.blocks @> lower(v.blocks)) AS waiting,
               row_number() OVER (PARTITION BY d.id ORDER BY v.superseded_at DESC, v.version DESC) AS n
        FROM catalog.asset_versions v
        JOIN catalog.datasets d ON d.org_id = v.org_id AND d.id = v.dataset_id
        LEFT JOIN chain.events e ON e.id = v.superseded_by_event
        LEFT JOIN chain.reorgs g ON g.event_id = v.superseded_by_event
        WHERE v.org_id = p_org_id AND v.superseded_reason = 'reorg') s
    WHERE s.waiting OR s.n <= 20
    ORDER BY s.dataset, s.version
$$;


ALTER FUNCTION catalog.superseded_partitions(p_org_id uuid) OWNER TO postgres;

--
-- Name: take_range(uuid, uuid, bigint, int8range, integer); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.take_range(p_org_id uuid, p_dataset_id uuid, p_chain_id bigint, p_blocks int8range, p_version integer) RETURNS void
    LANGUAGE sql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    UPDATE catalog.asset_versions v
    SET superseded_at = now(), superseded_reason = 'replaced', superseded_by_version = p_version,
        superseded_by_event = NULL
    WHERE v.org_id = p_org_id AND v.dataset_id = p_dataset_id AND v.superseded_at IS NULL
      AND coalesce(v.chain_id, -1) = coalesce(p_chain_id, -1) AND v.blocks = p_blocks
      AND v.version <> p_version;
    UPDATE catalog.asset_versions v
    SET superseded_at = NULL, superseded_reason = NULL, superseded_by_version = NULL,
        superseded_by_event = NULL
    WHERE v.org_id = p_org_id AND v.dataset_id = p_dataset_id AND v.version = p_version;
$$;


ALTER FUNCTION catalog.take_range(p_org_id uuid, p_dataset_id uuid, p_chain_id bigint, p_blocks int8range, p_version integer) OWNER TO postgres;

--
-- Name: validation_holds(uuid); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.validation_holds(p_org_id uuid) RETURNS TABLE(dataset text, version integer, state text, job text, run_id uuid, error text, dependants_read integer)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH latest AS (
        SELECT DISTINCT ON (val.name, i ->> 'dataset', core.try_int(i ->> 'version'))
               val.name AS job, i ->> 'dataset' AS dataset, core.try_int(i ->> 'version') AS version,
               r.id, r.status, r.error
        FROM jobs.current_definitions(p_org_id) val
        JOIN runs.runs r ON r.org_id = p_org_id AND r.job_name = val.name
        CROSS JOIN LATERAL jsonb_array_elements(r.inputs) i
        WHERE val.kind = 'reactive' AND val.spec ->> 'type' = 'validate'
          AND i ->> 'dataset' = ANY (val.input_datasets) AND i ? 'version'
        ORDER BY val.name, i ->> 'dataset', core.try_int(i ->> 'version'), r.created_at DESC
    )
    SELECT l.dataset, l.version,
           CASE WHEN l.status IN ('dead', 'failed') THEN 'failed' ELSE 'pending' END, l.job, l.id,
           l.error ->> 'message', catalog.propagated_version(p_org_id, l.dataset)
    FROM latest l
    WHERE l.status <> 'succeeded' AND catalog.is_current_version(p_org_id, l.dataset, l.version)
    ORDER BY l.dataset, l.version, l.job
$$;


ALTER FUNCTION catalog.validation_holds(p_org_id uuid) OWNER TO postgres;

--
-- Name: validation_state(uuid, text, integer); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.validation_state(p_org_id uuid, p_dataset text, p_version integer) RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT CASE WHEN count(*) = 0 THEN 'none'
                WHEN bool_or(v.status IN ('dead', 'failed')) THEN 'failed'
                WHEN bool_and(v.status = 'succeeded') THEN 'passed'
                ELSE 'pending' END
    FROM catalog.verdicts(p_org_id, p_dataset, p_version) v
$$;


ALTER FUNCTION catalog.validation_state(p_org_id uuid, p_dataset text, p_version integer) OWNER TO postgres;

--
-- Name: verdicts(uuid, text, integer); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.verdicts(p_org_id uuid, p_dataset text, p_version integer) RETURNS TABLE(job text, run_id uuid, status text, error jsonb)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT val.name, last.id, coalesce(last.status, 'not run'), last.error
    FROM jobs.current_definitions(p_org_id) val
    JOIN catalog.datasets d ON d.org_id = p_org_id AND d.name = p_dataset
    JOIN catalog.asset_versions v ON v.org_id = d.org_id AND v.dataset_id = d.id AND v.version = p_version
    LEFT JOIN LATERAL (
        SELECT r.id, r.status, r.error FROM runs.runs r
        WHERE r.org_id = p_org_id AND r.job_name = val.name
          AND r.inputs @> jsonb_build_array(jsonb_build_object('dataset', p_dataset,
                                                               'version', p_version))
        ORDER BY r.created_at DESC LIMIT 1) last ON true
    WHERE val.kind = 'reactive' AND val.spec ->> 'type' = 'validate'
      AND p_dataset = ANY (val.input_datasets)
      AND v.created_at >= (SELECT min(f.created_at) FROM jobs.definitions f
                           WHERE f.org_id = p_org_id AND f.name = val.name
                             AND f.spec ->> 'type' = 'validate')
$$;


ALTER FUNCTION catalog.verdicts(p_org_id uuid, p_dataset text, p_version integer) OWNER TO postgres;

--
-- Name: version_as_input(uuid, text, integer); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.version_as_input(p_org_id uuid, p_dataset text, p_version integer) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT jsonb_build_object('dataset', d.name, 'version', v.version,
                              'partition', nullif(v.partition, ''), 'uris', to_jsonb(v.uris),
                              'rows', v.row_count, 'schema', v.schema)
    FROM catalog.datasets d JOIN catalog.asset_versions v
      ON v.org_id = d.org_id AND v.dataset_id = d.id
    WHERE d.org_id = p_org_id AND d.name = p_dataset AND v.version = p_version
$$;


ALTER FUNCTION catalog.version_as_input(p_org_id uuid, p_dataset text, p_version integer) OWNER TO postgres;

--
-- Name: version_state(catalog.asset_versions); Type: FUNCTION; Schema: catalog; Owner: postgres
--

CREATE FUNCTION catalog.version_state(p_version catalog.asset_versions) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT jsonb_build_object(
        'range', CASE WHEN p_version.blocks IS NOT NULL THEN jsonb_build_object(
                     'chain_id', p_version.chain_id, 'from_block', lower(p_version.blocks),
                     'to_block', upper(p_version.blocks) - 1) END,
        'superseded', CASE WHEN p_version.superseded_at IS NOT NULL THEN jsonb_build_object(
                          'reason', p_version.superseded_reason, 'at', p_version.superseded_at,
                          'by_version', p_version.superseded_by_version,
                          'event', p_version.superseded_by_event,
                          'from_block', e.from_block, 'chain_id', e.chain_id, 'reorg', g.id,
                          'fork_block', g.fork_block, 'depth', g.depth) END)
    FROM (SELECT 1) one
    LEFT JOIN chain.events e ON e.id = p_version.superseded_by_event
    LEFT JOIN chain.reorgs g ON g.event_id = p_version.superseded_by_event
$$;


ALTER FUNCTION catalog.version_state(p_version catalog.asset_versions) OWNER TO postgres;

--
-- Name: visibility; Type: TYPE; Schema: catalog; Owner: postgres
--

CREATE TYPE catalog.visibility AS ENUM (
    'private',
    'org'
);


ALTER TYPE catalog.visibility OWNER TO postgres;

--
-- Name: FUNCTION "check"(p_chain_id bigint); Type: ACL; Schema: chain; Owner: postgres
--

REVOKE ALL ON FUNCTION chain."check"(p_chain_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chain."check"(p_chain_id bigint) TO chainlake_definer;
GRANT ALL ON FUNCTION chain."check"(p_chain_id bigint) TO chainlake_ingest;
GRANT ALL ON FUNCTION chain."check"(p_chain_id bigint) TO chainlake_users;

--
-- Name: FUNCTION advance_watermark(p_chain_id bigint); Type: ACL; Schema: chain; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION chain.advance_watermark(p_chain_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.advance_watermark(p_chain_id bigint) TO chainlake_ingest;

--
-- Name: FUNCTION cold_chunks(p_chain_id bigint); Type: ACL; Schema: chain; Owner: postgres
--

REVOKE ALL ON FUNCTION chain.cold_chunks(p_chain_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.cold_chunks(p_chain_id bigint) TO chainlake_definer;
GRANT ALL ON FUNCTION chain.cold_chunks(p_chain_id bigint) TO chainlake_ingest;
GRANT ALL ON FUNCTION chain.cold_chunks(p_chain_id bigint) TO chainlake_users;

--
-- Name: FUNCTION commit_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_finalized bigint); Type: ACL; Schema: chain; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION chain.commit_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_finalized bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.commit_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_finalized bigint) TO chainlake_ingest;

--
-- Name: FUNCTION drop_hot_from(p_chain_id bigint, p_from bigint); Type: ACL; Schema: chain; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION chain.drop_hot_from(p_chain_id bigint, p_from bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.drop_hot_from(p_chain_id bigint, p_from bigint) TO chainlake_ingest;

--
-- Name: FUNCTION hold_steady(p_chain_ids bigint[]); Type: ACL; Schema: chain; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION chain.hold_steady(p_chain_ids bigint[]) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.hold_steady(p_chain_ids bigint[]) TO chainlake_runner;

--
-- Name: FUNCTION lock_chain(p_chain_id bigint); Type: ACL; Schema: chain; Owner: postgres
--

REVOKE ALL ON FUNCTION chain.lock_chain(p_chain_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.lock_chain(p_chain_id bigint) TO chainlake_definer;

--
-- Name: FUNCTION range_ends(p_chain_id bigint, p_first bigint, p_last bigint); Type: ACL; Schema: chain; Owner: postgres
--

REVOKE ALL ON FUNCTION chain.range_ends(p_chain_id bigint, p_first bigint, p_last bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.range_ends(p_chain_id bigint, p_first bigint, p_last bigint) TO chainlake_definer;
GRANT ALL ON FUNCTION chain.range_ends(p_chain_id bigint, p_first bigint, p_last bigint) TO chainlake_runner;

--
-- Name: FUNCTION record_chunk(p_chain_id bigint, p_from bigint, p_to bigint, p_first_parent_hash bytea, p_last_hash bytea, p_prefix text, p_files jsonb, p_source text, p_replace boolean); Type: ACL; Schema: chain; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION chain.record_chunk(p_chain_id bigint, p_from bigint, p_to bigint, p_first_parent_hash bytea, p_last_hash bytea, p_prefix text, p_files jsonb, p_source text, p_replace boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.record_chunk(p_chain_id bigint, p_from bigint, p_to bigint, p_first_parent_hash bytea, p_last_hash bytea, p_prefix text, p_files jsonb, p_source text, p_replace boolean) TO chainlake_ingest;

--
-- Name: FUNCTION record_stop(p_chain_id bigint, p_reason text); Type: ACL; Schema: chain; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION chain.record_stop(p_chain_id bigint, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.record_stop(p_chain_id bigint, p_reason text) TO chainlake_ingest;

--
-- Name: FUNCTION register_chain(p_chain_id bigint, p_name text, p_start_block bigint, p_finality_depth integer, p_chunk_size integer); Type: ACL; Schema: chain; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION chain.register_chain(p_chain_id bigint, p_name text, p_start_block bigint, p_finality_depth integer, p_chunk_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.register_chain(p_chain_id bigint, p_name text, p_start_block bigint, p_finality_depth integer, p_chunk_size integer) TO chainlake_ingest;

--
-- Name: FUNCTION report_check(p_chain_id bigint, p_problems integer, p_first jsonb); Type: ACL; Schema: chain; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION chain.report_check(p_chain_id bigint, p_problems integer, p_first jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.report_check(p_chain_id bigint, p_problems integer, p_first jsonb) TO chainlake_ingest;

--
-- Name: FUNCTION report_rpc_health(p_chain_id bigint, p_endpoints jsonb); Type: ACL; Schema: chain; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION chain.report_rpc_health(p_chain_id bigint, p_endpoints jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.report_rpc_health(p_chain_id bigint, p_endpoints jsonb) TO chainlake_ingest;

--
-- Name: FUNCTION resume_point(p_chain_id bigint); Type: ACL; Schema: chain; Owner: postgres
--

REVOKE ALL ON FUNCTION chain.resume_point(p_chain_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.resume_point(p_chain_id bigint) TO chainlake_definer;
GRANT ALL ON FUNCTION chain.resume_point(p_chain_id bigint) TO chainlake_ingest;
GRANT ALL ON FUNCTION chain.resume_point(p_chain_id bigint) TO chainlake_users;

--
-- Name: FUNCTION rewind(p_chain_id bigint, p_fork_block bigint, p_new_hashes bytea[]); Type: ACL; Schema: chain; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION chain.rewind(p_chain_id bigint, p_fork_block bigint, p_new_hashes bytea[]) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.rewind(p_chain_id bigint, p_fork_block bigint, p_new_hashes bytea[]) TO chainlake_ingest;

--
-- Name: FUNCTION status(); Type: ACL; Schema: chain; Owner: postgres
--

REVOKE ALL ON FUNCTION chain.status() FROM PUBLIC;
GRANT ALL ON FUNCTION chain.status() TO chainlake_definer;
GRANT ALL ON FUNCTION chain.status() TO chainlake_ingest;
GRANT ALL ON FUNCTION chain.status() TO chainlake_users;

--
-- Name: FUNCTION status_for_caller(); Type: ACL; Schema: chain; Owner: postgres
--

REVOKE ALL ON FUNCTION chain.status_for_caller() FROM PUBLIC;
GRANT ALL ON FUNCTION chain.status_for_caller() TO chainlake_definer;
GRANT ALL ON FUNCTION chain.status_for_caller() TO chainlake_ingest;
GRANT ALL ON FUNCTION chain.status_for_caller() TO chainlake_users;

--
-- Name: FUNCTION stored_hash(p_chain_id bigint, p_number bigint); Type: ACL; Schema: chain; Owner: postgres
--

REVOKE ALL ON FUNCTION chain.stored_hash(p_chain_id bigint, p_number bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chain.stored_hash(p_chain_id bigint, p_number bigint) TO chainlake_definer;
GRANT ALL ON FUNCTION chain.stored_hash(p_chain_id bigint, p_number bigint) TO chainlake_ingest;
GRANT ALL ON FUNCTION chain.stored_hash(p_chain_id bigint, p_number bigint) TO chainlake_users;

--
-- Name: PROCEDURE apply_global_policies(IN tbl regclass, IN writable boolean); Type: ACL; Schema: chain; Owner: postgres
--

REVOKE ALL ON PROCEDURE chain.apply_global_policies(IN tbl regclass, IN writable boolean) FROM PUBLIC;
GRANT ALL ON PROCEDURE chain.apply_global_policies(IN tbl regclass, IN writable boolean) TO chainlake_definer;

--
-- Name: SEQUENCE events_id_seq; Type: ACL; Schema: chain; Owner: postgres
--

GRANT ALL ON SEQUENCE chain.events_id_seq TO chainlake_definer;

--
-- Name: SEQUENCE reorgs_id_seq; Type: ACL; Schema: chain; Owner: postgres
--

GRANT ALL ON SEQUENCE chain.reorgs_id_seq TO chainlake_definer;

--
-- Name: TABLE blocks; Type: ACL; Schema: chain; Owner: postgres
--

GRANT SELECT ON TABLE chain.blocks TO chainlake_evaluator;
GRANT SELECT ON TABLE chain.blocks TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.blocks TO chainlake_definer;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.blocks TO chainlake_ingest;

--
-- Name: TABLE blocks; Type: COMMENT; Schema: chain; Owner: postgres
--

COMMENT ON TABLE chain.blocks IS '@tenancy global: canonical blocks at the hot tip, readable by every authenticated user';

--
-- Name: TABLE chains; Type: ACL; Schema: chain; Owner: postgres
--

GRANT SELECT ON TABLE chain.chains TO chainlake_ingest;
GRANT SELECT ON TABLE chain.chains TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.chains TO chainlake_definer;

--
-- Name: TABLE chains; Type: COMMENT; Schema: chain; Owner: postgres
--

COMMENT ON TABLE chain.chains IS '@tenancy global: the chains the platform ingests, their watermark and finality';

--
-- Name: TABLE check_reports; Type: ACL; Schema: chain; Owner: postgres
--

GRANT SELECT ON TABLE chain.check_reports TO chainlake_ingest;
GRANT SELECT ON TABLE chain.check_reports TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.check_reports TO chainlake_definer;

--
-- Name: TABLE chunks; Type: ACL; Schema: chain; Owner: postgres
--

GRANT SELECT ON TABLE chain.chunks TO chainlake_ingest;
GRANT SELECT ON TABLE chain.chunks TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.chunks TO chainlake_definer;

--
-- Name: TABLE chunks; Type: COMMENT; Schema: chain; Owner: postgres
--

COMMENT ON TABLE chain.chunks IS '@tenancy global: cold Parquet chunks of finalized chain data';

--
-- Name: TABLE events; Type: ACL; Schema: chain; Owner: postgres
--

GRANT SELECT ON TABLE chain.events TO chainlake_ingest;
GRANT SELECT ON TABLE chain.events TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.events TO chainlake_definer;

--
-- Name: TABLE events; Type: COMMENT; Schema: chain; Owner: postgres
--

COMMENT ON TABLE chain.events IS '@tenancy global: ingested, invalidated and archived block ranges';

--
-- Name: TABLE logs; Type: ACL; Schema: chain; Owner: postgres
--

GRANT SELECT ON TABLE chain.logs TO chainlake_evaluator;
GRANT SELECT ON TABLE chain.logs TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.logs TO chainlake_definer;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.logs TO chainlake_ingest;

--
-- Name: TABLE logs; Type: COMMENT; Schema: chain; Owner: postgres
--

COMMENT ON TABLE chain.logs IS '@tenancy global: event logs of the hot blocks';

--
-- Name: TABLE reorgs; Type: ACL; Schema: chain; Owner: postgres
--

GRANT SELECT ON TABLE chain.reorgs TO chainlake_ingest;
GRANT SELECT ON TABLE chain.reorgs TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.reorgs TO chainlake_definer;

--
-- Name: TABLE reorgs; Type: COMMENT; Schema: chain; Owner: postgres
--

COMMENT ON TABLE chain.reorgs IS '@tenancy global: every reorg ingestion corrected';

--
-- Name: TABLE rpc_health; Type: ACL; Schema: chain; Owner: postgres
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.rpc_health TO chainlake_definer;

--
-- Name: TABLE transactions; Type: ACL; Schema: chain; Owner: postgres
--

GRANT SELECT ON TABLE chain.transactions TO chainlake_evaluator;
GRANT SELECT ON TABLE chain.transactions TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.transactions TO chainlake_definer;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chain.transactions TO chainlake_ingest;

--
-- Name: TABLE transactions; Type: COMMENT; Schema: chain; Owner: postgres
--

COMMENT ON TABLE chain.transactions IS '@tenancy global: transactions of the hot blocks, with their receipts';

--
-- Name: advance_watermark(bigint); Type: FUNCTION; Schema: chain; Owner: chainlake_definer
--

CREATE FUNCTION chain.advance_watermark(p_chain_id bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    c chain.chains;
    mark bigint;
    next_chunk chain.chunks;
BEGIN
    c := chain.lock_chain(p_chain_id);
    mark := coalesce(c.archived_to, c.start_block - 1);
    LOOP
        SELECT * INTO next_chunk FROM chain.chunks
        WHERE chain_id = p_chain_id AND from_block = mark + 1;
        EXIT WHEN NOT FOUND;
        mark := next_chunk.to_block;
    END LOOP;
    IF mark IS DISTINCT FROM coalesce(c.archived_to, c.start_block - 1) THEN
        UPDATE chain.chains SET archived_to = mark, updated_at = now() WHERE chain_id = p_chain_id;
        DELETE FROM chain.blocks WHERE chain_id = p_chain_id AND number <= mark;
        INSERT INTO chain.events (chain_id, kind, from_block, to_block)
        VALUES (p_chain_id, 'archived', coalesce(c.archived_to, c.start_block - 1) + 1, mark);
    END IF;
    RETURN mark;
END
$$;


ALTER FUNCTION chain.advance_watermark(p_chain_id bigint) OWNER TO chainlake_definer;

--
-- Name: apply_global_policies(regclass, boolean); Type: PROCEDURE; Schema: chain; Owner: postgres
--

CREATE PROCEDURE chain.apply_global_policies(IN tbl regclass, IN writable boolean)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    CALL core.force_rls(tbl);
    EXECUTE format('GRANT SELECT ON %s TO chainlake_users, chainlake_ingest', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "authenticated users read chain data" ON %s', tbl);
    EXECUTE format('CREATE POLICY "authenticated users read chain data" ON %s FOR SELECT TO chainlake_users USING ((SELECT core.caller_may_read_global()))', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "runners write chain data" ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "ingest reads and writes chain data" ON %s', tbl);
    IF writable THEN
        EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %s TO chainlake_ingest', tbl);
        EXECUTE format('CREATE POLICY "ingest reads and writes chain data" ON %s FOR ALL TO chainlake_ingest USING (true) WITH CHECK (true)', tbl);
    ELSE
        EXECUTE format('CREATE POLICY "ingest reads and writes chain data" ON %s FOR SELECT TO chainlake_ingest USING (true)', tbl);
    END IF;
END
$$;


ALTER PROCEDURE chain.apply_global_policies(IN tbl regclass, IN writable boolean) OWNER TO postgres;

--
-- Name: blocks; Type: ROW SECURITY; Schema: chain; Owner: postgres
--

ALTER TABLE chain.blocks ENABLE ROW LEVEL SECURITY;

--
-- Name: blocks; Type: TABLE; Schema: chain; Owner: postgres
--

CREATE TABLE chain.blocks (
    chain_id bigint NOT NULL,
    number bigint NOT NULL,
    hash bytea NOT NULL,
    parent_hash bytea NOT NULL,
    "timestamp" timestamp with time zone NOT NULL,
    miner bytea,
    gas_used bigint,
    gas_limit bigint,
    base_fee_per_gas numeric(78,0),
    transaction_count integer,
    ingested_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);

ALTER TABLE ONLY chain.blocks FORCE ROW LEVEL SECURITY;


ALTER TABLE chain.blocks OWNER TO postgres;

--
-- Name: blocks alert evaluation reads chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "alert evaluation reads chain data" ON chain.blocks FOR SELECT TO chainlake_evaluator USING (true);

--
-- Name: blocks authenticated users read chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "authenticated users read chain data" ON chain.blocks FOR SELECT TO chainlake_users USING (( SELECT core.caller_may_read_global() AS caller_may_read_global));

--
-- Name: blocks blocks_pkey; Type: CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.blocks
    ADD CONSTRAINT blocks_pkey PRIMARY KEY (chain_id, number);

--
-- Name: blocks ingest reads and writes chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "ingest reads and writes chain data" ON chain.blocks TO chainlake_ingest USING (true) WITH CHECK (true);

--
-- Name: blocks the platform's definer functions; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON chain.blocks TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: blocks_hash_idx; Type: INDEX; Schema: chain; Owner: postgres
--

CREATE UNIQUE INDEX blocks_hash_idx ON chain.blocks USING btree (chain_id, hash);

--
-- Name: chains; Type: ROW SECURITY; Schema: chain; Owner: postgres
--

ALTER TABLE chain.chains ENABLE ROW LEVEL SECURITY;

--
-- Name: chains; Type: TABLE; Schema: chain; Owner: postgres
--

CREATE TABLE chain.chains (
    chain_id bigint NOT NULL,
    name text NOT NULL,
    start_block bigint DEFAULT 0 NOT NULL,
    finality_depth integer DEFAULT 64 NOT NULL,
    chunk_size integer DEFAULT 1000 NOT NULL,
    finalized bigint,
    archived_to bigint,
    head bigint,
    stopped_reason text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT chains_chunk_size CHECK ((chunk_size > 0)),
    CONSTRAINT chains_finality_depth CHECK ((finality_depth >= 0)),
    CONSTRAINT chains_name_format CHECK ((name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'::text))
);

ALTER TABLE ONLY chain.chains FORCE ROW LEVEL SECURITY;


ALTER TABLE chain.chains OWNER TO postgres;

--
-- Name: chains authenticated users read chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "authenticated users read chain data" ON chain.chains FOR SELECT TO chainlake_users USING (( SELECT core.caller_may_read_global() AS caller_may_read_global));

--
-- Name: chains chains_pkey; Type: CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.chains
    ADD CONSTRAINT chains_pkey PRIMARY KEY (chain_id);

--
-- Name: chains ingest reads and writes chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "ingest reads and writes chain data" ON chain.chains FOR SELECT TO chainlake_ingest USING (true);

--
-- Name: chains the platform's definer functions; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON chain.chains TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: check(bigint); Type: FUNCTION; Schema: chain; Owner: postgres
--

CREATE FUNCTION chain."check"(p_chain_id bigint) RETURNS TABLE(problem text, from_block bigint, to_block bigint, detail text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH c AS (SELECT * FROM chain.chains WHERE chain_id = p_chain_id),
    hot AS (
        SELECT number, hash, parent_hash,
               lag(number) OVER w AS prev_number, lag(hash) OVER w AS prev_hash
        FROM chain.blocks WHERE chain_id = p_chain_id
          AND number > coalesce((SELECT archived_to FROM c), -1)
        WINDOW w AS (ORDER BY number)
    ),
    cold AS (
        SELECT from_block, to_block, first_parent_hash,
               lag(to_block) OVER w AS prev_to, lag(last_hash) OVER w AS prev_hash
        FROM chain.chunks WHERE chain_id = p_chain_id
        WINDOW w AS (ORDER BY from_block)
    ),
    first_hot AS (SELECT * FROM hot ORDER BY number LIMIT 1)
    SELECT 'missing_blocks', prev_number + 1, number - 1,
           format('blocks %s..%s are not in hot storage', prev_number + 1, number - 1)
    FROM hot WHERE number > prev_number + 1
    UNION ALL
    SELECT 'broken_hash_chain', number, number,
           format('block %s does not name block %s as its parent', number, number - 1)
    FROM hot WHERE number = prev_number + 1 AND parent_hash <> prev_hash
    UNION ALL
    SELECT 'missing_blocks', c.archived_to + 1, f.number - 1,
           format('blocks %s..%s are neither cold nor hot', c.archived_to + 1, f.number - 1)
    FROM c, first_hot f WHERE c.archived_to IS NOT NULL AND f.number > c.archived_to + 1
    UNION ALL
    SELECT 'missing_blocks', c.start_block, f.number - 1,
           format('blocks %s..%s are neither cold nor hot', c.start_block, f.number - 1)
    FROM c, first_hot f WHERE c.archived_to IS NULL AND f.number > c.start_block
    UNION ALL
    SELECT 'broken_hash_chain', f.number, f.number,
           format('hot block %s does not extend the last cold block %s', f.number, c.archived_to)
    FROM c, first_hot f
    WHERE f.number = c.archived_to + 1
      AND f.parent_hash <> chain.stored_hash(p_chain_id, c.archived_to)
    UNION ALL
    SELECT 'missing_chunk', prev_to + 1, from_block - 1,
           format('no cold chunk holds blocks %s..%s', prev_to + 1, from_block - 1)
    FROM cold WHERE from_block > prev_to + 1
    UNION ALL
    SELECT 'broken_hash_chain', from_block, from_block,
           format('chunk %s.. does not extend the chunk ending at %s', from_block, prev_to)
    FROM cold WHERE from_block = prev_to + 1 AND first_parent_hash <> prev_hash
    UNION ALL
    SELECT 'missing_transactions', b.number, b.number,
           format('block %s has %s transactions, %s stored', b.number, b.transaction_count, count(t.*))
    FROM chain.blocks b LEFT JOIN chain.transactions t
      ON t.chain_id = b.chain_id AND t.block_number = b.number
    WHERE b.chain_id = p_chain_id AND b.transaction_count IS NOT NULL
    GROUP BY b.number, b.transaction_count
    HAVING count(t.*) <> b.transaction_count
$$;


ALTER FUNCTION chain."check"(p_chain_id bigint) OWNER TO postgres;

--
-- Name: check_reports; Type: ROW SECURITY; Schema: chain; Owner: postgres
--

ALTER TABLE chain.check_reports ENABLE ROW LEVEL SECURITY;

--
-- Name: check_reports; Type: TABLE; Schema: chain; Owner: postgres
--

CREATE TABLE chain.check_reports (
    chain_id bigint NOT NULL,
    checked_at timestamp with time zone DEFAULT now() NOT NULL,
    problems integer NOT NULL,
    first_problems jsonb DEFAULT '[]'::jsonb NOT NULL,
    CONSTRAINT check_reports_problems CHECK ((problems >= 0))
);

ALTER TABLE ONLY chain.check_reports FORCE ROW LEVEL SECURITY;


ALTER TABLE chain.check_reports OWNER TO postgres;

--
-- Name: check_reports authenticated users read chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "authenticated users read chain data" ON chain.check_reports FOR SELECT TO chainlake_users USING (( SELECT core.caller_may_read_global() AS caller_may_read_global));

--
-- Name: check_reports check_reports_chain_id_fkey; Type: FK CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.check_reports
    ADD CONSTRAINT check_reports_chain_id_fkey FOREIGN KEY (chain_id) REFERENCES chain.chains(chain_id) ON DELETE CASCADE;

--
-- Name: check_reports check_reports_pkey; Type: CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.check_reports
    ADD CONSTRAINT check_reports_pkey PRIMARY KEY (chain_id);

--
-- Name: check_reports ingest reads and writes chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "ingest reads and writes chain data" ON chain.check_reports FOR SELECT TO chainlake_ingest USING (true);

--
-- Name: check_reports the platform's definer functions; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON chain.check_reports TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: chunks; Type: ROW SECURITY; Schema: chain; Owner: postgres
--

ALTER TABLE chain.chunks ENABLE ROW LEVEL SECURITY;

--
-- Name: chunks; Type: TABLE; Schema: chain; Owner: postgres
--

CREATE TABLE chain.chunks (
    chain_id bigint NOT NULL,
    from_block bigint NOT NULL,
    to_block bigint NOT NULL,
    first_parent_hash bytea NOT NULL,
    last_hash bytea NOT NULL,
    prefix text NOT NULL,
    files jsonb NOT NULL,
    source text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT chunks_range CHECK ((from_block <= to_block)),
    CONSTRAINT chunks_source CHECK ((source = ANY (ARRAY['archive'::text, 'rpc'::text])))
);

ALTER TABLE ONLY chain.chunks FORCE ROW LEVEL SECURITY;


ALTER TABLE chain.chunks OWNER TO postgres;

--
-- Name: chunks authenticated users read chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "authenticated users read chain data" ON chain.chunks FOR SELECT TO chainlake_users USING (( SELECT core.caller_may_read_global() AS caller_may_read_global));

--
-- Name: chunks chunks_pkey; Type: CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.chunks
    ADD CONSTRAINT chunks_pkey PRIMARY KEY (chain_id, from_block);

--
-- Name: chunks ingest reads and writes chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "ingest reads and writes chain data" ON chain.chunks FOR SELECT TO chainlake_ingest USING (true);

--
-- Name: chunks the platform's definer functions; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON chain.chunks TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: cold_chunks(bigint); Type: FUNCTION; Schema: chain; Owner: postgres
--

CREATE FUNCTION chain.cold_chunks(p_chain_id bigint) RETURNS TABLE(from_block bigint, to_block bigint, prefix text, files jsonb)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT k.from_block, k.to_block, k.prefix, k.files FROM chain.chunks k
    JOIN chain.chains c USING (chain_id)
    WHERE k.chain_id = p_chain_id AND k.to_block <= c.archived_to
    ORDER BY k.from_block
$$;


ALTER FUNCTION chain.cold_chunks(p_chain_id bigint) OWNER TO postgres;

--
-- Name: commit_batch(bigint, bigint, bigint, bigint); Type: FUNCTION; Schema: chain; Owner: chainlake_definer
--

CREATE FUNCTION chain.commit_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_finalized bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    expected bytea;
    broken bigint;
    event_id bigint;
    n_blocks bigint;
    c chain.chains;
BEGIN
    c := chain.lock_chain(p_chain_id);
    IF p_from <= c.archived_to THEN
        RAISE EXCEPTION 'batch %..% of chain % is at or below the archive watermark', p_from,
            p_to, p_chain_id USING ERRCODE = 'CL001',
            HINT = 'a backfill archived these blocks meanwhile: resume after the watermark';
    END IF;
    SELECT count(*) INTO n_blocks FROM chain.blocks
    WHERE chain_id = p_chain_id AND number BETWEEN p_from AND p_to;
    IF n_blocks <> p_to - p_from + 1 THEN
        RAISE EXCEPTION 'batch %..% of chain % has % of its % blocks', p_from, p_to, p_chain_id,
            n_blocks, p_to - p_from + 1 USING ERRCODE = '23514';
    END IF;
    IF EXISTS (SELECT 1 FROM chain.blocks WHERE chain_id = p_chain_id AND number > p_to) THEN
        RAISE EXCEPTION 'batch %..% of chain % is not at the tip', p_from, p_to, p_chain_id
            USING ERRCODE = '23514';
    END IF;
    expected := chain.stored_hash(p_chain_id, p_from - 1);
    IF expected IS NULL AND (
        EXISTS (SELECT 1 FROM chain.blocks WHERE chain_id = p_chain_id AND number < p_from)
        OR c.archived_to IS NOT NULL
    ) THEN
        RAISE EXCEPTION 'batch %..% of chain % would leave a gap: block % is not stored', p_from,
            p_to, p_chain_id, p_from - 1 USING ERRCODE = 'CL002',
            HINT = 'resume from chain.resume_point';
    END IF;
    IF expected IS NOT NULL AND expected <> (SELECT parent_hash FROM chain.blocks
                                             WHERE chain_id = p_chain_id AND number = p_from) THEN
        RAISE EXCEPTION 'block % of chain % does not extend the stored block %', p_from,
            p_chain_id, p_from - 1 USING ERRCODE = '23514',
            HINT = 'the stored chain was reorganised: rewind to the fork point first';
    END IF;
    SELECT b.number INTO broken FROM chain.blocks b
    JOIN chain.blocks p ON p.chain_id = b.chain_id AND p.number = b.number - 1
    WHERE b.chain_id = p_chain_id AND b.number BETWEEN p_from + 1 AND p_to
      AND b.parent_hash <> p.hash
    LIMIT 1;
    IF broken IS NOT NULL THEN
        RAISE EXCEPTION 'block % of chain % does not extend block %', broken, p_chain_id,
            broken - 1 USING ERRCODE = '23514';
    END IF;
    UPDATE chain.chains SET head = p_to, finalized = greatest(finalized, p_finalized),
        updated_at = now()
    WHERE chain_id = p_chain_id;
    INSERT INTO chain.events (chain_id, kind, from_block, to_block)
    VALUES (p_chain_id, 'ingested', p_from, p_to) RETURNING id INTO event_id;
    PERFORM runs.dispatch_chain_batch(p_chain_id, p_from, p_to, event_id);
    PERFORM pg_notify('chain_events', event_id::text);
    RETURN event_id;
END
$$;


ALTER FUNCTION chain.commit_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_finalized bigint) OWNER TO chainlake_definer;

--
-- Name: drop_hot_from(bigint, bigint); Type: FUNCTION; Schema: chain; Owner: chainlake_definer
--

CREATE FUNCTION chain.drop_hot_from(p_chain_id bigint, p_from bigint) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    c chain.chains;
    dropped integer;
    old_head bigint;
    event_id bigint;
BEGIN
    c := chain.lock_chain(p_chain_id);
    IF p_from <= c.archived_to THEN
        RAISE EXCEPTION 'block % of chain % is archived; repair its chunk instead', p_from,
            p_chain_id USING ERRCODE = '22023';
    END IF;
    SELECT count(*), max(number) INTO dropped, old_head FROM chain.blocks
    WHERE chain_id = p_chain_id AND number >= p_from;
    DELETE FROM chain.blocks WHERE chain_id = p_chain_id AND number >= p_from;
    IF dropped > 0 THEN
        INSERT INTO chain.events (chain_id, kind, from_block, to_block)
        VALUES (p_chain_id, 'invalidated', p_from, old_head) RETURNING id INTO event_id;
        PERFORM catalog.on_invalidated(p_chain_id, p_from, event_id);
    END IF;
    UPDATE chain.chains SET head = (SELECT max(number) FROM chain.blocks WHERE chain_id = p_chain_id),
        stopped_reason = NULL, updated_at = now()
    WHERE chain_id = p_chain_id;
    RETURN dropped;
END
$$;


ALTER FUNCTION chain.drop_hot_from(p_chain_id bigint, p_from bigint) OWNER TO chainlake_definer;

--
-- Name: events; Type: ROW SECURITY; Schema: chain; Owner: postgres
--

ALTER TABLE chain.events ENABLE ROW LEVEL SECURITY;

--
-- Name: events; Type: TABLE; Schema: chain; Owner: postgres
--

CREATE TABLE chain.events (
    id bigint NOT NULL,
    chain_id bigint NOT NULL,
    kind text NOT NULL,
    from_block bigint NOT NULL,
    to_block bigint NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT events_kind CHECK ((kind = ANY (ARRAY['ingested'::text, 'invalidated'::text, 'archived'::text]))),
    CONSTRAINT events_range CHECK ((from_block <= to_block))
);

ALTER TABLE ONLY chain.events FORCE ROW LEVEL SECURITY;


ALTER TABLE chain.events OWNER TO postgres;

--
-- Name: events authenticated users read chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "authenticated users read chain data" ON chain.events FOR SELECT TO chainlake_users USING (( SELECT core.caller_may_read_global() AS caller_may_read_global));

--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);

--
-- Name: events ingest reads and writes chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "ingest reads and writes chain data" ON chain.events FOR SELECT TO chainlake_ingest USING (true);

--
-- Name: events the platform's definer functions; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON chain.events TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: events_chain_idx; Type: INDEX; Schema: chain; Owner: postgres
--

CREATE INDEX events_chain_idx ON chain.events USING btree (chain_id, id);

--
-- Name: events_id_seq; Type: SEQUENCE; Schema: chain; Owner: postgres
--

ALTER TABLE chain.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME chain.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: hold_steady(bigint[]); Type: FUNCTION; Schema: chain; Owner: chainlake_definer
--

CREATE FUNCTION chain.hold_steady(p_chain_ids bigint[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT 1 FROM chain.chains WHERE chain_id = ANY (p_chain_ids) ORDER BY chain_id FOR KEY SHARE
$$;


ALTER FUNCTION chain.hold_steady(p_chain_ids bigint[]) OWNER TO chainlake_definer;

--
-- Name: lock_chain(bigint); Type: FUNCTION; Schema: chain; Owner: postgres
--

CREATE FUNCTION chain.lock_chain(p_chain_id bigint) RETURNS chain.chains
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    c chain.chains;
BEGIN
    SELECT * INTO c FROM chain.chains WHERE chain_id = p_chain_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'chain % is not registered', p_chain_id USING ERRCODE = '42704',
            HINT = 'live ingest registers its chain when it starts';
    END IF;
    RETURN c;
END
$$;


ALTER FUNCTION chain.lock_chain(p_chain_id bigint) OWNER TO postgres;

--
-- Name: logs; Type: ROW SECURITY; Schema: chain; Owner: postgres
--

ALTER TABLE chain.logs ENABLE ROW LEVEL SECURITY;

--
-- Name: logs; Type: TABLE; Schema: chain; Owner: postgres
--

CREATE TABLE chain.logs (
    chain_id bigint NOT NULL,
    block_number bigint NOT NULL,
    log_index integer NOT NULL,
    transaction_index integer NOT NULL,
    transaction_hash bytea NOT NULL,
    address bytea NOT NULL,
    topic0 bytea,
    topic1 bytea,
    topic2 bytea,
    topic3 bytea,
    data bytea NOT NULL
);

ALTER TABLE ONLY chain.logs FORCE ROW LEVEL SECURITY;


ALTER TABLE chain.logs OWNER TO postgres;

--
-- Name: logs alert evaluation reads chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "alert evaluation reads chain data" ON chain.logs FOR SELECT TO chainlake_evaluator USING (true);

--
-- Name: logs authenticated users read chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "authenticated users read chain data" ON chain.logs FOR SELECT TO chainlake_users USING (( SELECT core.caller_may_read_global() AS caller_may_read_global));

--
-- Name: logs ingest reads and writes chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "ingest reads and writes chain data" ON chain.logs TO chainlake_ingest USING (true) WITH CHECK (true);

--
-- Name: logs logs_chain_id_block_number_fkey; Type: FK CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.logs
    ADD CONSTRAINT logs_chain_id_block_number_fkey FOREIGN KEY (chain_id, block_number) REFERENCES chain.blocks(chain_id, number) ON DELETE CASCADE;

--
-- Name: logs logs_pkey; Type: CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.logs
    ADD CONSTRAINT logs_pkey PRIMARY KEY (chain_id, block_number, log_index);

--
-- Name: logs the platform's definer functions; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON chain.logs TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: logs_address_idx; Type: INDEX; Schema: chain; Owner: postgres
--

CREATE INDEX logs_address_idx ON chain.logs USING btree (chain_id, address, block_number);

--
-- Name: logs_topic0_idx; Type: INDEX; Schema: chain; Owner: postgres
--

CREATE INDEX logs_topic0_idx ON chain.logs USING btree (chain_id, topic0, block_number);

--
-- Name: range_ends(bigint, bigint, bigint); Type: FUNCTION; Schema: chain; Owner: postgres
--

CREATE FUNCTION chain.range_ends(p_chain_id bigint, p_first bigint, p_last bigint) RETURNS TABLE(first_hash bytea, last_hash bytea, events_through bigint)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT chain.stored_hash(p_chain_id, p_first), chain.stored_hash(p_chain_id, p_last),
           (SELECT max(e.id) FROM chain.events e WHERE e.chain_id = p_chain_id)
$$;


ALTER FUNCTION chain.range_ends(p_chain_id bigint, p_first bigint, p_last bigint) OWNER TO postgres;

--
-- Name: record_chunk(bigint, bigint, bigint, bytea, bytea, text, jsonb, text, boolean); Type: FUNCTION; Schema: chain; Owner: chainlake_definer
--

CREATE FUNCTION chain.record_chunk(p_chain_id bigint, p_from bigint, p_to bigint, p_first_parent_hash bytea, p_last_hash bytea, p_prefix text, p_files jsonb, p_source text, p_replace boolean DEFAULT false) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    c chain.chains;
    prev_hash bytea;
    next_parent bytea;
BEGIN
    c := chain.lock_chain(p_chain_id);
    IF p_prefix NOT LIKE format('global/chain/%s/%%', p_chain_id)
       OR EXISTS (SELECT 1 FROM jsonb_each(p_files) f
                  WHERE f.value ->> 'key' NOT LIKE p_prefix || '/%') THEN
        RAISE EXCEPTION 'chunk files of chain % must lie under global/chain/%/', p_chain_id,
            p_chain_id USING ERRCODE = '22023';
    END IF;
    IF p_source = 'archive' AND NOT EXISTS (
        SELECT 1 FROM chain.blocks WHERE chain_id = p_chain_id AND number = p_to
                                     AND hash = p_last_hash) THEN
        RAISE EXCEPTION 'hot blocks %..% of chain % changed while they were archived', p_from,
            p_to, p_chain_id USING ERRCODE = '40001', HINT = 'the archiver tries again';
    END IF;
    IF (p_to + 1) % c.chunk_size <> 0
       OR p_from <> greatest(c.start_block, p_to - c.chunk_size + 1) THEN
        RAISE EXCEPTION 'chunk %..% of chain % is not aligned to its chunk size %', p_from,
            p_to, p_chain_id, c.chunk_size USING ERRCODE = '22023';
    END IF;
    SELECT last_hash INTO prev_hash FROM chain.chunks
    WHERE chain_id = p_chain_id AND to_block = p_from - 1;
    IF prev_hash IS NOT NULL AND prev_hash <> p_first_parent_hash THEN
        RAISE EXCEPTION 'chunk %..% of chain % does not extend the chunk before it', p_from, p_to,
            p_chain_id USING ERRCODE = '23514';
    END IF;
    SELECT first_parent_hash INTO next_parent FROM chain.chunks
    WHERE chain_id = p_chain_id AND from_block = p_to + 1;
    -- (a repair replacing this chunk may be fixing that very link: chain.check reports the rest)
    IF next_parent IS NOT NULL AND next_parent <> p_last_hash AND NOT p_replace THEN
        RAISE EXCEPTION 'chunk %..% of chain % does not link to the chunk after it', p_from, p_to,
            p_chain_id USING ERRCODE = '23514';
    END IF;
    IF p_replace THEN
        DELETE FROM chain.chunks WHERE chain_id = p_chain_id AND from_block = p_from;
    END IF;
    INSERT INTO chain.chunks (chain_id, from_block, to_block, first_parent_hash, last_hash,
                              prefix, files, source)
    VALUES (p_chain_id, p_from, p_to, p_first_parent_hash, p_last_hash, p_prefix, p_files,
            p_source)
    ON CONFLICT (chain_id, from_block) DO NOTHING;
    RETURN FOUND;
END
$$;


ALTER FUNCTION chain.record_chunk(p_chain_id bigint, p_from bigint, p_to bigint, p_first_parent_hash bytea, p_last_hash bytea, p_prefix text, p_files jsonb, p_source text, p_replace boolean) OWNER TO chainlake_definer;

--
-- Name: record_stop(bigint, text); Type: FUNCTION; Schema: chain; Owner: chainlake_definer
--

CREATE FUNCTION chain.record_stop(p_chain_id bigint, p_reason text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    UPDATE chain.chains SET stopped_reason = p_reason, updated_at = now()
    WHERE chain_id = p_chain_id
$$;


ALTER FUNCTION chain.record_stop(p_chain_id bigint, p_reason text) OWNER TO chainlake_definer;

--
-- Name: register_chain(bigint, text, bigint, integer, integer); Type: FUNCTION; Schema: chain; Owner: chainlake_definer
--

CREATE FUNCTION chain.register_chain(p_chain_id bigint, p_name text, p_start_block bigint, p_finality_depth integer, p_chunk_size integer) RETURNS chain.chains
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    result chain.chains;
BEGIN
    INSERT INTO chain.chains AS c (chain_id, name, start_block, finality_depth, chunk_size)
    VALUES (p_chain_id, p_name, p_start_block, p_finality_depth, p_chunk_size)
    ON CONFLICT (chain_id) DO UPDATE
        SET name = excluded.name, finality_depth = excluded.finality_depth,
            -- chunk boundaries and the start of history are fixed once anything is stored
            chunk_size = CASE WHEN NOT EXISTS (SELECT 1 FROM chain.chunks k
                                               WHERE k.chain_id = c.chain_id)
                              THEN excluded.chunk_size ELSE c.chunk_size END,
            start_block = CASE WHEN c.archived_to IS NULL AND c.head IS NULL
                                    AND NOT EXISTS (SELECT 1 FROM chain.chunks k
                                                    WHERE k.chain_id = c.chain_id)
                               THEN excluded.start_block ELSE c.start_block END,
            updated_at = now()
    RETURNING * INTO result;
    RETURN result;
END
$$;


ALTER FUNCTION chain.register_chain(p_chain_id bigint, p_name text, p_start_block bigint, p_finality_depth integer, p_chunk_size integer) OWNER TO chainlake_definer;

--
-- Name: reorgs; Type: ROW SECURITY; Schema: chain; Owner: postgres
--

ALTER TABLE chain.reorgs ENABLE ROW LEVEL SECURITY;

--
-- Name: reorgs; Type: TABLE; Schema: chain; Owner: postgres
--

CREATE TABLE chain.reorgs (
    id bigint NOT NULL,
    chain_id bigint NOT NULL,
    fork_block bigint NOT NULL,
    depth integer NOT NULL,
    old_hashes bytea[] NOT NULL,
    new_hashes bytea[] NOT NULL,
    detected_at timestamp with time zone DEFAULT now() NOT NULL,
    event_id bigint
);

ALTER TABLE ONLY chain.reorgs FORCE ROW LEVEL SECURITY;


ALTER TABLE chain.reorgs OWNER TO postgres;

--
-- Name: reorgs authenticated users read chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "authenticated users read chain data" ON chain.reorgs FOR SELECT TO chainlake_users USING (( SELECT core.caller_may_read_global() AS caller_may_read_global));

--
-- Name: reorgs ingest reads and writes chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "ingest reads and writes chain data" ON chain.reorgs FOR SELECT TO chainlake_ingest USING (true);

--
-- Name: reorgs reorgs_pkey; Type: CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.reorgs
    ADD CONSTRAINT reorgs_pkey PRIMARY KEY (id);

--
-- Name: reorgs the platform's definer functions; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON chain.reorgs TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: reorgs_chain_idx; Type: INDEX; Schema: chain; Owner: postgres
--

CREATE INDEX reorgs_chain_idx ON chain.reorgs USING btree (chain_id, detected_at DESC);

--
-- Name: reorgs_event_idx; Type: INDEX; Schema: chain; Owner: postgres
--

CREATE INDEX reorgs_event_idx ON chain.reorgs USING btree (event_id);

--
-- Name: reorgs_id_seq; Type: SEQUENCE; Schema: chain; Owner: postgres
--

ALTER TABLE chain.reorgs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME chain.reorgs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: report_check(bigint, integer, jsonb); Type: FUNCTION; Schema: chain; Owner: chainlake_definer
--

CREATE FUNCTION chain.report_check(p_chain_id bigint, p_problems integer, p_first jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF p_problems IS NULL OR p_problems < 0 THEN
        RAISE EXCEPTION 'problems: a count, 0 or more' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(p_first) IS DISTINCT FROM 'array' OR jsonb_array_length(p_first) > 20 THEN
        RAISE EXCEPTION 'first problems: an array of at most 20' USING ERRCODE = '22023';
    END IF;
    INSERT INTO chain.check_reports AS c (chain_id, checked_at, problems, first_problems)
    VALUES (p_chain_id, now(), p_problems, p_first)
    ON CONFLICT (chain_id) DO UPDATE
    SET checked_at = excluded.checked_at, problems = excluded.problems,
        first_problems = excluded.first_problems;
END
$$;


ALTER FUNCTION chain.report_check(p_chain_id bigint, p_problems integer, p_first jsonb) OWNER TO chainlake_definer;

--
-- Name: report_rpc_health(bigint, jsonb); Type: FUNCTION; Schema: chain; Owner: chainlake_definer
--

CREATE FUNCTION chain.report_rpc_health(p_chain_id bigint, p_endpoints jsonb) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    e jsonb;
    n integer := 0;
    down_for double precision;
BEGIN
    IF jsonb_typeof(p_endpoints) IS DISTINCT FROM 'array' OR jsonb_array_length(p_endpoints) > 64 THEN
        RAISE EXCEPTION 'endpoints: an array of at most 64 objects' USING ERRCODE = '22023';
    END IF;
    FOR e IN SELECT value FROM jsonb_array_elements(p_endpoints) LOOP
        n := n + 1;
        down_for := (e ->> 'down_seconds')::double precision;
        INSERT INTO chain.rpc_health AS h (chain_id, position, address, down_since, reason)
        VALUES (p_chain_id, n, left(coalesce(e ->> 'address', '?'), 200),
                CASE WHEN down_for IS NOT NULL
                     THEN now() - make_interval(secs => greatest(down_for, 0)) END,
                left(e ->> 'reason', 300))
        ON CONFLICT (chain_id, position) DO UPDATE
        SET address = excluded.address,
            down_since = CASE WHEN excluded.down_since IS NULL THEN NULL
                              ELSE coalesce(h.down_since, excluded.down_since) END,
            reason = excluded.reason,
            reported_at = now();
    END LOOP;
    DELETE FROM chain.rpc_health WHERE chain_id = p_chain_id AND position > n;
    RETURN n;
END
$$;


ALTER FUNCTION chain.report_rpc_health(p_chain_id bigint, p_endpoints jsonb) OWNER TO chainlake_definer;

--
-- Name: resume_point(bigint); Type: FUNCTION; Schema: chain; Owner: postgres
--

CREATE FUNCTION chain.resume_point(p_chain_id bigint) RETURNS TABLE(next_block bigint, parent_hash bytea)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH tip AS (
        SELECT greatest(
            (SELECT max(number) FROM chain.blocks WHERE chain_id = p_chain_id),
            (SELECT archived_to FROM chain.chains WHERE chain_id = p_chain_id)) AS n
    )
    SELECT tip.n + 1, chain.stored_hash(p_chain_id, tip.n) FROM tip WHERE tip.n IS NOT NULL
$$;


ALTER FUNCTION chain.resume_point(p_chain_id bigint) OWNER TO postgres;

--
-- Name: rewind(bigint, bigint, bytea[]); Type: FUNCTION; Schema: chain; Owner: chainlake_definer
--

CREATE FUNCTION chain.rewind(p_chain_id bigint, p_fork_block bigint, p_new_hashes bytea[]) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    c chain.chains;
    orphaned bytea[];
    old_head bigint;
    event_id bigint;
BEGIN
    c := chain.lock_chain(p_chain_id);
    IF p_fork_block < greatest(c.finalized, c.archived_to) THEN
        RAISE EXCEPTION 'reorg of chain % below finality: the fork point % is under the finalized block %',
            p_chain_id, p_fork_block, greatest(c.finalized, c.archived_to) USING ERRCODE = '55000',
            HINT = 'ingestion stops rather than rewrite final data: check the RPC endpoints (a node on the wrong chain?), then `chainlake chain check`';
    END IF;
    SELECT array_agg(hash ORDER BY number), max(number) INTO orphaned, old_head
    FROM chain.blocks WHERE chain_id = p_chain_id AND number > p_fork_block;
    IF orphaned IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM chain.blocks WHERE chain_id = p_chain_id AND number > p_fork_block;
    INSERT INTO chain.events (chain_id, kind, from_block, to_block)
    VALUES (p_chain_id, 'invalidated', p_fork_block + 1, old_head) RETURNING id INTO event_id;
    INSERT INTO chain.reorgs (chain_id, fork_block, depth, old_hashes, new_hashes, event_id)
    VALUES (p_chain_id, p_fork_block, cardinality(orphaned), orphaned, coalesce(p_new_hashes, '{}'),
            event_id);
    UPDATE chain.chains SET head = p_fork_block, updated_at = now() WHERE chain_id = p_chain_id;
    PERFORM alerts.retract_above(p_chain_id, p_fork_block);
    -- derived data: supersede what the orphaned blocks fed, queue its recompute (sql/58)
    PERFORM catalog.on_invalidated(p_chain_id, p_fork_block + 1, event_id);
    RETURN cardinality(orphaned);
END
$$;


ALTER FUNCTION chain.rewind(p_chain_id bigint, p_fork_block bigint, p_new_hashes bytea[]) OWNER TO chainlake_definer;

--
-- Name: rpc_health; Type: ROW SECURITY; Schema: chain; Owner: postgres
--

ALTER TABLE chain.rpc_health ENABLE ROW LEVEL SECURITY;

--
-- Name: rpc_health; Type: TABLE; Schema: chain; Owner: postgres
--

CREATE TABLE chain.rpc_health (
    chain_id bigint NOT NULL,
    "position" integer NOT NULL,
    address text NOT NULL,
    down_since timestamp with time zone,
    reason text,
    reported_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT rpc_health_position CHECK (("position" >= 1))
);

ALTER TABLE ONLY chain.rpc_health FORCE ROW LEVEL SECURITY;


ALTER TABLE chain.rpc_health OWNER TO postgres;

--
-- Name: rpc_health rpc_health_chain_id_fkey; Type: FK CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.rpc_health
    ADD CONSTRAINT rpc_health_chain_id_fkey FOREIGN KEY (chain_id) REFERENCES chain.chains(chain_id) ON DELETE CASCADE;

--
-- Name: rpc_health rpc_health_pkey; Type: CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.rpc_health
    ADD CONSTRAINT rpc_health_pkey PRIMARY KEY (chain_id, "position");

--
-- Name: rpc_health the platform's definer functions; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON chain.rpc_health TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: status(); Type: FUNCTION; Schema: chain; Owner: postgres
--

CREATE FUNCTION chain.status() RETURNS TABLE(chain_id bigint, name text, head bigint, finalized bigint, watermark bigint, stopped_reason text, hot_blocks bigint, chunks bigint, reorgs bigint, last_ingested timestamp with time zone, last_reorg jsonb)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT c.chain_id, c.name, c.head, c.finalized, c.archived_to, c.stopped_reason,
           (SELECT count(*) FROM chain.blocks b WHERE b.chain_id = c.chain_id),
           (SELECT count(*) FROM chain.chunks k WHERE k.chain_id = c.chain_id),
           (SELECT count(*) FROM chain.reorgs r WHERE r.chain_id = c.chain_id),
           (SELECT max(e.at) FROM chain.events e
            WHERE e.chain_id = c.chain_id AND e.kind = 'ingested'),
           (SELECT jsonb_build_object('id', r.id, 'fork_block', r.fork_block, 'depth', r.depth,
                                      'detected_at', r.detected_at)
            FROM chain.reorgs r WHERE r.chain_id = c.chain_id ORDER BY r.id DESC LIMIT 1)
    FROM chain.chains c ORDER BY c.chain_id
$$;


ALTER FUNCTION chain.status() OWNER TO postgres;

--
-- Name: status_for_caller(); Type: FUNCTION; Schema: chain; Owner: postgres
--

CREATE FUNCTION chain.status_for_caller() RETURNS SETOF jsonb
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT to_jsonb(s) || jsonb_build_object('last_reorg', CASE WHEN s.last_reorg IS NOT NULL THEN
        s.last_reorg || jsonb_build_object('invalidated', coalesce((
            SELECT jsonb_agg(jsonb_build_object('org', i.org, 'dataset', i.dataset,
                                                'partitions', i.partitions)
                             ORDER BY i.org, i.dataset)
            FROM (SELECT o.name AS org, d.name AS dataset, count(*)::integer AS partitions
                  FROM chain.reorgs g
                  JOIN catalog.asset_versions v ON v.superseded_by_event = g.event_id
                  JOIN catalog.datasets d ON d.org_id = v.org_id AND d.id = v.dataset_id
                  JOIN core.orgs o ON o.id = v.org_id
                  WHERE g.id = (s.last_reorg ->> 'id')::bigint
                  GROUP BY o.name, d.name) i), '[]'))
        END)
    FROM chain.status() s
$$;


ALTER FUNCTION chain.status_for_caller() OWNER TO postgres;

--
-- Name: stored_hash(bigint, bigint); Type: FUNCTION; Schema: chain; Owner: postgres
--

CREATE FUNCTION chain.stored_hash(p_chain_id bigint, p_number bigint) RETURNS bytea
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT coalesce(
        (SELECT hash FROM chain.blocks WHERE chain_id = p_chain_id AND number = p_number),
        (SELECT last_hash FROM chain.chunks WHERE chain_id = p_chain_id AND to_block = p_number))
$$;


ALTER FUNCTION chain.stored_hash(p_chain_id bigint, p_number bigint) OWNER TO postgres;

--
-- Name: transactions; Type: ROW SECURITY; Schema: chain; Owner: postgres
--

ALTER TABLE chain.transactions ENABLE ROW LEVEL SECURITY;

--
-- Name: transactions; Type: TABLE; Schema: chain; Owner: postgres
--

CREATE TABLE chain.transactions (
    chain_id bigint NOT NULL,
    block_number bigint NOT NULL,
    transaction_index integer NOT NULL,
    hash bytea NOT NULL,
    from_address bytea NOT NULL,
    to_address bytea,
    value numeric(78,0) NOT NULL,
    gas_limit bigint NOT NULL,
    gas_price numeric(78,0),
    nonce bigint NOT NULL,
    input bytea NOT NULL,
    status smallint,
    gas_used bigint,
    contract_address bytea
);

ALTER TABLE ONLY chain.transactions FORCE ROW LEVEL SECURITY;


ALTER TABLE chain.transactions OWNER TO postgres;

--
-- Name: transactions alert evaluation reads chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "alert evaluation reads chain data" ON chain.transactions FOR SELECT TO chainlake_evaluator USING (true);

--
-- Name: transactions authenticated users read chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "authenticated users read chain data" ON chain.transactions FOR SELECT TO chainlake_users USING (( SELECT core.caller_may_read_global() AS caller_may_read_global));

--
-- Name: transactions ingest reads and writes chain data; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "ingest reads and writes chain data" ON chain.transactions TO chainlake_ingest USING (true) WITH CHECK (true);

--
-- Name: transactions the platform's definer functions; Type: POLICY; Schema: chain; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON chain.transactions TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: transactions transactions_chain_id_block_number_fkey; Type: FK CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.transactions
    ADD CONSTRAINT transactions_chain_id_block_number_fkey FOREIGN KEY (chain_id, block_number) REFERENCES chain.blocks(chain_id, number) ON DELETE CASCADE;

--
-- Name: transactions transactions_pkey; Type: CONSTRAINT; Schema: chain; Owner: postgres
--

ALTER TABLE ONLY chain.transactions
    ADD CONSTRAINT transactions_pkey PRIMARY KEY (chain_id, block_number, transaction_index);

--
-- Name: transactions_hash_idx; Type: INDEX; Schema: chain; Owner: postgres
--

CREATE INDEX transactions_hash_idx ON chain.transactions USING btree (chain_id, hash);

--
-- Name: alembic_version; Type: TABLE; Schema: chainlake_meta; Owner: postgres
--

CREATE TABLE chainlake_meta.alembic_version (
    version_num character varying(32) NOT NULL
);


ALTER TABLE chainlake_meta.alembic_version OWNER TO postgres;

--
-- Name: alembic_version alembic_version_pkc; Type: CONSTRAINT; Schema: chainlake_meta; Owner: postgres
--

ALTER TABLE ONLY chainlake_meta.alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);

--
-- Name: applied_files; Type: TABLE; Schema: chainlake_meta; Owner: postgres
--

CREATE TABLE chainlake_meta.applied_files (
    path text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE chainlake_meta.applied_files OWNER TO postgres;

--
-- Name: applied_files applied_files_pkey; Type: CONSTRAINT; Schema: chainlake_meta; Owner: postgres
--

ALTER TABLE ONLY chainlake_meta.applied_files
    ADD CONSTRAINT applied_files_pkey PRIMARY KEY (path);

--
-- Name: COLUMN memberships.role; Type: ACL; Schema: core; Owner: postgres
--

GRANT UPDATE(role) ON TABLE core.memberships TO chainlake_users;

--
-- Name: COLUMN org_grants.grantee_org_id; Type: ACL; Schema: core; Owner: postgres
--

GRANT INSERT(grantee_org_id) ON TABLE core.org_grants TO chainlake_users;

--
-- Name: COLUMN org_grants.org_id; Type: ACL; Schema: core; Owner: postgres
--

GRANT INSERT(org_id) ON TABLE core.org_grants TO chainlake_users;

--
-- Name: COLUMN org_grants.privilege; Type: ACL; Schema: core; Owner: postgres
--

GRANT INSERT(privilege) ON TABLE core.org_grants TO chainlake_users;

--
-- Name: FUNCTION add_member(p_email text, p_org text, p_role text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.add_member(p_email text, p_org text, p_role text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.add_member(p_email text, p_org text, p_role text) TO chainlake_definer;

--
-- Name: FUNCTION allow_egress(p_address text, p_note text); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.allow_egress(p_address text, p_note text) FROM PUBLIC;

--
-- Name: FUNCTION apply_platform_limits(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.apply_platform_limits() FROM PUBLIC;
GRANT ALL ON FUNCTION core.apply_platform_limits() TO chainlake_definer;

--
-- Name: FUNCTION apply_session_limits(p_user_id uuid); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.apply_session_limits(p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION core.apply_session_limits(p_user_id uuid) TO chainlake_definer;

--
-- Name: FUNCTION audit_access_change(); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.audit_access_change() FROM PUBLIC;

--
-- Name: FUNCTION audit_config_change(); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.audit_config_change() FROM PUBLIC;

--
-- Name: FUNCTION caller_is_operator(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.caller_is_operator() FROM PUBLIC;
GRANT ALL ON FUNCTION core.caller_is_operator() TO chainlake_api;
GRANT ALL ON FUNCTION core.caller_is_operator() TO chainlake_definer;
GRANT ALL ON FUNCTION core.caller_is_operator() TO chainlake_users;

--
-- Name: FUNCTION caller_may_read_global(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.caller_may_read_global() FROM PUBLIC;
GRANT ALL ON FUNCTION core.caller_may_read_global() TO chainlake_api;
GRANT ALL ON FUNCTION core.caller_may_read_global() TO chainlake_definer;
GRANT ALL ON FUNCTION core.caller_may_read_global() TO chainlake_users;

--
-- Name: FUNCTION caller_may_write(p_org_id uuid); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.caller_may_write(p_org_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION core.caller_may_write(p_org_id uuid) TO chainlake_definer;
GRANT ALL ON FUNCTION core.caller_may_write(p_org_id uuid) TO chainlake_users;

--
-- Name: FUNCTION caller_org_ids(access core.access); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.caller_org_ids(access core.access) FROM PUBLIC;
GRANT ALL ON FUNCTION core.caller_org_ids(access core.access) TO chainlake_api;
GRANT ALL ON FUNCTION core.caller_org_ids(access core.access) TO chainlake_users;

--
-- Name: FUNCTION caller_user_id(); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.caller_user_id() FROM PUBLIC;
GRANT ALL ON FUNCTION core.caller_user_id() TO chainlake_api;
GRANT ALL ON FUNCTION core.caller_user_id() TO chainlake_users;

--
-- Name: FUNCTION charge_api_request(); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.charge_api_request() FROM PUBLIC;
GRANT ALL ON FUNCTION core.charge_api_request() TO chainlake_authenticated;

--
-- Name: FUNCTION check_member_role(p_role text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.check_member_role(p_role text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.check_member_role(p_role text) TO chainlake_definer;

--
-- Name: FUNCTION check_storage_quota(p_org_id uuid, p_new_bytes bigint); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.check_storage_quota(p_org_id uuid, p_new_bytes bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION core.check_storage_quota(p_org_id uuid, p_new_bytes bigint) TO chainlake_runner;

--
-- Name: FUNCTION create_org(p_name text, p_display_name text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.create_org(p_name text, p_display_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.create_org(p_name text, p_display_name text) TO chainlake_definer;

--
-- Name: FUNCTION create_user(p_email text, p_org text, p_role text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.create_user(p_email text, p_org text, p_role text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.create_user(p_email text, p_org text, p_role text) TO chainlake_definer;

--
-- Name: FUNCTION egress_policy(); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.egress_policy() FROM PUBLIC;
GRANT ALL ON FUNCTION core.egress_policy() TO chainlake_alerts;
GRANT ALL ON FUNCTION core.egress_policy() TO chainlake_api;
GRANT ALL ON FUNCTION core.egress_policy() TO chainlake_runner;

--
-- Name: FUNCTION egress_ranges(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.egress_ranges() FROM PUBLIC;
GRANT ALL ON FUNCTION core.egress_ranges() TO chainlake_alerts;
GRANT ALL ON FUNCTION core.egress_ranges() TO chainlake_api;
GRANT ALL ON FUNCTION core.egress_ranges() TO chainlake_definer;
GRANT ALL ON FUNCTION core.egress_ranges() TO chainlake_runner;
GRANT ALL ON FUNCTION core.egress_ranges() TO chainlake_users;

--
-- Name: FUNCTION egress_refusal(p_host text, p_port integer); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.egress_refusal(p_host text, p_port integer) FROM PUBLIC;
GRANT ALL ON FUNCTION core.egress_refusal(p_host text, p_port integer) TO chainlake_alerts;
GRANT ALL ON FUNCTION core.egress_refusal(p_host text, p_port integer) TO chainlake_api;
GRANT ALL ON FUNCTION core.egress_refusal(p_host text, p_port integer) TO chainlake_runner;
GRANT ALL ON FUNCTION core.egress_refusal(p_host text, p_port integer) TO chainlake_users;

--
-- Name: FUNCTION egress_url_refusal(p_url text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.egress_url_refusal(p_url text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.egress_url_refusal(p_url text) TO chainlake_alerts;
GRANT ALL ON FUNCTION core.egress_url_refusal(p_url text) TO chainlake_api;
GRANT ALL ON FUNCTION core.egress_url_refusal(p_url text) TO chainlake_definer;
GRANT ALL ON FUNCTION core.egress_url_refusal(p_url text) TO chainlake_runner;
GRANT ALL ON FUNCTION core.egress_url_refusal(p_url text) TO chainlake_users;

--
-- Name: FUNCTION encrypted_values(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.encrypted_values() FROM PUBLIC;
GRANT ALL ON FUNCTION core.encrypted_values() TO chainlake_definer;

--
-- Name: FUNCTION end_overdue_sessions(); Type: ACL; Schema: core; Owner: chainlake_watchdog
--

REVOKE ALL ON FUNCTION core.end_overdue_sessions() FROM PUBLIC;
GRANT ALL ON FUNCTION core.end_overdue_sessions() TO chainlake_definer;
GRANT ALL ON FUNCTION core.end_overdue_sessions() TO chainlake_runner;

--
-- Name: FUNCTION forget_egress(p_address text); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.forget_egress(p_address text) FROM PUBLIC;

--
-- Name: FUNCTION grant_org_read(p_from text, p_to text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.grant_org_read(p_from text, p_to text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.grant_org_read(p_from text, p_to text) TO chainlake_definer;

--
-- Name: FUNCTION is_this_machine(p_host text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.is_this_machine(p_host text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.is_this_machine(p_host text) TO chainlake_alerts;
GRANT ALL ON FUNCTION core.is_this_machine(p_host text) TO chainlake_api;
GRANT ALL ON FUNCTION core.is_this_machine(p_host text) TO chainlake_definer;
GRANT ALL ON FUNCTION core.is_this_machine(p_host text) TO chainlake_runner;
GRANT ALL ON FUNCTION core.is_this_machine(p_host text) TO chainlake_users;

--
-- Name: FUNCTION literal_address(p_host text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.literal_address(p_host text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.literal_address(p_host text) TO chainlake_alerts;
GRANT ALL ON FUNCTION core.literal_address(p_host text) TO chainlake_api;
GRANT ALL ON FUNCTION core.literal_address(p_host text) TO chainlake_definer;
GRANT ALL ON FUNCTION core.literal_address(p_host text) TO chainlake_runner;
GRANT ALL ON FUNCTION core.literal_address(p_host text) TO chainlake_users;

--
-- Name: FUNCTION lock_until_commit(p_purpose text, p_subject uuid); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.lock_until_commit(p_purpose text, p_subject uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION core.lock_until_commit(p_purpose text, p_subject uuid) TO chainlake_runner;

--
-- Name: FUNCTION member_limits_changed(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.member_limits_changed() FROM PUBLIC;
GRANT ALL ON FUNCTION core.member_limits_changed() TO chainlake_definer;

--
-- Name: FUNCTION member_org(p_org text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.member_org(p_org text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.member_org(p_org text) TO chainlake_definer;
GRANT ALL ON FUNCTION core.member_org(p_org text) TO chainlake_users;

--
-- Name: FUNCTION metrics_snapshot(p_depth_bounds integer[], p_latency_bounds double precision[]); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.metrics_snapshot(p_depth_bounds integer[], p_latency_bounds double precision[]) FROM PUBLIC;
GRANT ALL ON FUNCTION core.metrics_snapshot(p_depth_bounds integer[], p_latency_bounds double precision[]) TO chainlake_runner;

--
-- Name: FUNCTION narrow_role(p_role core.member_role, p_scope jsonb, p_org uuid); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.narrow_role(p_role core.member_role, p_scope jsonb, p_org uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION core.narrow_role(p_role core.member_role, p_scope jsonb, p_org uuid) TO chainlake_api;
GRANT ALL ON FUNCTION core.narrow_role(p_role core.member_role, p_scope jsonb, p_org uuid) TO chainlake_definer;
GRANT ALL ON FUNCTION core.narrow_role(p_role core.member_role, p_scope jsonb, p_org uuid) TO chainlake_users;

--
-- Name: FUNCTION new_login_role_name(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.new_login_role_name() FROM PUBLIC;
GRANT ALL ON FUNCTION core.new_login_role_name() TO chainlake_definer;

--
-- Name: FUNCTION normal_host(p_host text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.normal_host(p_host text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.normal_host(p_host text) TO chainlake_alerts;
GRANT ALL ON FUNCTION core.normal_host(p_host text) TO chainlake_api;
GRANT ALL ON FUNCTION core.normal_host(p_host text) TO chainlake_definer;
GRANT ALL ON FUNCTION core.normal_host(p_host text) TO chainlake_runner;
GRANT ALL ON FUNCTION core.normal_host(p_host text) TO chainlake_users;

--
-- Name: FUNCTION note_sign_in(p_token_sha256 bytea, p_issuer text, p_expires_at timestamp with time zone, p_detail jsonb); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.note_sign_in(p_token_sha256 bytea, p_issuer text, p_expires_at timestamp with time zone, p_detail jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION core.note_sign_in(p_token_sha256 bytea, p_issuer text, p_expires_at timestamp with time zone, p_detail jsonb) TO chainlake_authenticated;

--
-- Name: FUNCTION oidc_identity(p_email text, p_org_roles jsonb); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.oidc_identity(p_email text, p_org_roles jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION core.oidc_identity(p_email text, p_org_roles jsonb) TO chainlake_api;

--
-- Name: FUNCTION org_by_name(p_name text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.org_by_name(p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.org_by_name(p_name text) TO chainlake_definer;

--
-- Name: FUNCTION org_label(p_org_id uuid); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.org_label(p_org_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION core.org_label(p_org_id uuid) TO chainlake_runner;

--
-- Name: FUNCTION platform_addresses(); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.platform_addresses() FROM PUBLIC;

--
-- Name: FUNCTION platform_credential_allowed(p_org_id uuid, p_name text); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.platform_credential_allowed(p_org_id uuid, p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.platform_credential_allowed(p_org_id uuid, p_name text) TO chainlake_runner;

--
-- Name: FUNCTION platform_limits_changed(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.platform_limits_changed() FROM PUBLIC;
GRANT ALL ON FUNCTION core.platform_limits_changed() TO chainlake_definer;

--
-- Name: FUNCTION queues_problem(); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.queues_problem() FROM PUBLIC;
GRANT ALL ON FUNCTION core.queues_problem() TO chainlake_api;
GRANT ALL ON FUNCTION core.queues_problem() TO chainlake_runner;

--
-- Name: FUNCTION quota_limits_changed(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.quota_limits_changed() FROM PUBLIC;
GRANT ALL ON FUNCTION core.quota_limits_changed() TO chainlake_definer;

--
-- Name: FUNCTION remove_member(p_email text, p_org text); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.remove_member(p_email text, p_org text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.remove_member(p_email text, p_org text) TO chainlake_users;

--
-- Name: FUNCTION rename_org(p_org text, p_display_name text); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.rename_org(p_org text, p_display_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.rename_org(p_org text, p_display_name text) TO chainlake_users;

--
-- Name: FUNCTION request_claims(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.request_claims() FROM PUBLIC;
GRANT ALL ON FUNCTION core.request_claims() TO chainlake_api;
GRANT ALL ON FUNCTION core.request_claims() TO chainlake_definer;
GRANT ALL ON FUNCTION core.request_claims() TO chainlake_users;

--
-- Name: FUNCTION revoke_org_read(p_from text, p_to text); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.revoke_org_read(p_from text, p_to text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.revoke_org_read(p_from text, p_to text) TO chainlake_users;

--
-- Name: FUNCTION rewrap_encrypted(p_kind text, p_org_id uuid, p_name text, p_old bytea, p_new bytea); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.rewrap_encrypted(p_kind text, p_org_id uuid, p_name text, p_old bytea, p_new bytea) FROM PUBLIC;
GRANT ALL ON FUNCTION core.rewrap_encrypted(p_kind text, p_org_id uuid, p_name text, p_old bytea, p_new bytea) TO chainlake_definer;

--
-- Name: FUNCTION runner_org_id(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.runner_org_id() FROM PUBLIC;
GRANT ALL ON FUNCTION core.runner_org_id() TO chainlake_api;
GRANT ALL ON FUNCTION core.runner_org_id() TO chainlake_definer;
GRANT ALL ON FUNCTION core.runner_org_id() TO chainlake_users;

--
-- Name: FUNCTION session_bounds(p_roles name[]); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.session_bounds(p_roles name[]) FROM PUBLIC;
GRANT ALL ON FUNCTION core.session_bounds(p_roles name[]) TO chainlake_watchdog;

--
-- Name: FUNCTION session_limits(p_user_id uuid); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.session_limits(p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION core.session_limits(p_user_id uuid) TO chainlake_definer;

--
-- Name: FUNCTION set_egress_addresses(p_rule text, p_note text, p_addresses text[], p_replace boolean); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.set_egress_addresses(p_rule text, p_note text, p_addresses text[], p_replace boolean) FROM PUBLIC;

--
-- Name: FUNCTION set_login_password(p_role name, p_password text, p_valid_for interval); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.set_login_password(p_role name, p_password text, p_valid_for interval) FROM PUBLIC;
GRANT ALL ON FUNCTION core.set_login_password(p_role name, p_password text, p_valid_for interval) TO chainlake_definer;

--
-- Name: FUNCTION set_session_timeouts(p_role name, p_statement_ms integer, p_lock_ms integer, p_idle_ms integer); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.set_session_timeouts(p_role name, p_statement_ms integer, p_lock_ms integer, p_idle_ms integer) FROM PUBLIC;
GRANT ALL ON FUNCTION core.set_session_timeouts(p_role name, p_statement_ms integer, p_lock_ms integer, p_idle_ms integer) TO chainlake_definer;

--
-- Name: FUNCTION set_system_org(p_name text); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.set_system_org(p_name text) FROM PUBLIC;

--
-- Name: FUNCTION split_address(p_address text, OUT host text, OUT port integer); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.split_address(p_address text, OUT host text, OUT port integer) FROM PUBLIC;
GRANT ALL ON FUNCTION core.split_address(p_address text, OUT host text, OUT port integer) TO chainlake_alerts;
GRANT ALL ON FUNCTION core.split_address(p_address text, OUT host text, OUT port integer) TO chainlake_api;
GRANT ALL ON FUNCTION core.split_address(p_address text, OUT host text, OUT port integer) TO chainlake_definer;
GRANT ALL ON FUNCTION core.split_address(p_address text, OUT host text, OUT port integer) TO chainlake_runner;
GRANT ALL ON FUNCTION core.split_address(p_address text, OUT host text, OUT port integer) TO chainlake_users;

--
-- Name: FUNCTION split_url(p_url text, OUT scheme text, OUT host text, OUT port integer, OUT problem text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.split_url(p_url text, OUT scheme text, OUT host text, OUT port integer, OUT problem text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.split_url(p_url text, OUT scheme text, OUT host text, OUT port integer, OUT problem text) TO chainlake_alerts;
GRANT ALL ON FUNCTION core.split_url(p_url text, OUT scheme text, OUT host text, OUT port integer, OUT problem text) TO chainlake_api;
GRANT ALL ON FUNCTION core.split_url(p_url text, OUT scheme text, OUT host text, OUT port integer, OUT problem text) TO chainlake_definer;
GRANT ALL ON FUNCTION core.split_url(p_url text, OUT scheme text, OUT host text, OUT port integer, OUT problem text) TO chainlake_runner;
GRANT ALL ON FUNCTION core.split_url(p_url text, OUT scheme text, OUT host text, OUT port integer, OUT problem text) TO chainlake_users;

--
-- Name: FUNCTION stamp_actor(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.stamp_actor() FROM PUBLIC;
GRANT ALL ON FUNCTION core.stamp_actor() TO chainlake_definer;

--
-- Name: FUNCTION token_org_roles(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.token_org_roles() FROM PUBLIC;
GRANT ALL ON FUNCTION core.token_org_roles() TO chainlake_api;
GRANT ALL ON FUNCTION core.token_org_roles() TO chainlake_definer;
GRANT ALL ON FUNCTION core.token_org_roles() TO chainlake_users;

--
-- Name: FUNCTION try_int(value text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.try_int(value text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.try_int(value text) TO chainlake_api;
GRANT ALL ON FUNCTION core.try_int(value text) TO chainlake_definer;
GRANT ALL ON FUNCTION core.try_int(value text) TO chainlake_users;

--
-- Name: FUNCTION try_uuid(value text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.try_uuid(value text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.try_uuid(value text) TO chainlake_api;
GRANT ALL ON FUNCTION core.try_uuid(value text) TO chainlake_definer;
GRANT ALL ON FUNCTION core.try_uuid(value text) TO chainlake_users;

--
-- Name: FUNCTION user_by_email(p_email text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.user_by_email(p_email text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.user_by_email(p_email text) TO chainlake_definer;

--
-- Name: FUNCTION user_for_email(p_email text); Type: ACL; Schema: core; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION core.user_for_email(p_email text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.user_for_email(p_email text) TO chainlake_api;

--
-- Name: FUNCTION whoami(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.whoami() FROM PUBLIC;
GRANT ALL ON FUNCTION core.whoami() TO chainlake_api;
GRANT ALL ON FUNCTION core.whoami() TO chainlake_definer;
GRANT ALL ON FUNCTION core.whoami() TO chainlake_users;

--
-- Name: FUNCTION writable_org(p_org text, p_what text); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON FUNCTION core.writable_org(p_org text, p_what text) FROM PUBLIC;
GRANT ALL ON FUNCTION core.writable_org(p_org text, p_what text) TO chainlake_definer;
GRANT ALL ON FUNCTION core.writable_org(p_org text, p_what text) TO chainlake_users;

--
-- Name: PROCEDURE admit_definer(IN tbl regclass); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON PROCEDURE core.admit_definer(IN tbl regclass) FROM PUBLIC;
GRANT ALL ON PROCEDURE core.admit_definer(IN tbl regclass) TO chainlake_definer;

--
-- Name: PROCEDURE apply_org_data_policies(IN tbl regclass); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON PROCEDURE core.apply_org_data_policies(IN tbl regclass) FROM PUBLIC;
GRANT ALL ON PROCEDURE core.apply_org_data_policies(IN tbl regclass) TO chainlake_definer;

--
-- Name: PROCEDURE apply_org_platform_policies(IN tbl regclass); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON PROCEDURE core.apply_org_platform_policies(IN tbl regclass) FROM PUBLIC;
GRANT ALL ON PROCEDURE core.apply_org_platform_policies(IN tbl regclass) TO chainlake_definer;

--
-- Name: PROCEDURE apply_org_readonly_policies(IN tbl regclass); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON PROCEDURE core.apply_org_readonly_policies(IN tbl regclass) FROM PUBLIC;
GRANT ALL ON PROCEDURE core.apply_org_readonly_policies(IN tbl regclass) TO chainlake_definer;

--
-- Name: PROCEDURE apply_user_private_policies(IN tbl regclass); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON PROCEDURE core.apply_user_private_policies(IN tbl regclass) FROM PUBLIC;
GRANT ALL ON PROCEDURE core.apply_user_private_policies(IN tbl regclass) TO chainlake_definer;

--
-- Name: PROCEDURE force_rls(IN tbl regclass); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON PROCEDURE core.force_rls(IN tbl regclass) FROM PUBLIC;
GRANT ALL ON PROCEDURE core.force_rls(IN tbl regclass) TO chainlake_definer;

--
-- Name: PROCEDURE grant_people_writes(IN tbl regclass); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON PROCEDURE core.grant_people_writes(IN tbl regclass) FROM PUBLIC;
GRANT ALL ON PROCEDURE core.grant_people_writes(IN tbl regclass) TO chainlake_definer;

--
-- Name: PROCEDURE settle_function_owners(); Type: ACL; Schema: core; Owner: postgres
--

REVOKE ALL ON PROCEDURE core.settle_function_owners() FROM PUBLIC;
GRANT ALL ON PROCEDURE core.settle_function_owners() TO chainlake_definer;

--
-- Name: TABLE api_requests; Type: ACL; Schema: core; Owner: postgres
--

GRANT SELECT ON TABLE core.api_requests TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE core.api_requests TO chainlake_definer;

--
-- Name: TABLE api_requests; Type: COMMENT; Schema: core; Owner: postgres
--

COMMENT ON TABLE core.api_requests IS '@tenancy platform: API request counts per user and minute, written only by core.charge_api_request';

--
-- Name: TABLE egress_addresses; Type: ACL; Schema: core; Owner: postgres
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE core.egress_addresses TO chainlake_definer;

--
-- Name: TABLE egress_addresses; Type: COMMENT; Schema: core; Owner: postgres
--

COMMENT ON TABLE core.egress_addresses IS '@tenancy platform: the operator''s egress allow-list and the platform''s own addresses, written only by the operator';

--
-- Name: TABLE memberships; Type: ACL; Schema: core; Owner: postgres
--

GRANT SELECT ON TABLE core.memberships TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE core.memberships TO chainlake_definer;

--
-- Name: TABLE org_grants; Type: ACL; Schema: core; Owner: postgres
--

GRANT SELECT ON TABLE core.org_grants TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE core.org_grants TO chainlake_definer;

--
-- Name: TABLE orgs; Type: ACL; Schema: core; Owner: postgres
--

GRANT SELECT ON TABLE core.orgs TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE core.orgs TO chainlake_definer;

--
-- Name: TABLE orgs; Type: COMMENT; Schema: core; Owner: postgres
--

COMMENT ON TABLE core.orgs IS '@tenancy org-root: one row per tenant; its id is every org_id';

--
-- Name: TABLE platform_limits; Type: ACL; Schema: core; Owner: postgres
--

GRANT SELECT ON TABLE core.platform_limits TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE core.platform_limits TO chainlake_definer;

--
-- Name: TABLE quotas; Type: ACL; Schema: core; Owner: postgres
--

GRANT SELECT ON TABLE core.quotas TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE core.quotas TO chainlake_definer;

--
-- Name: TABLE row_locks; Type: ACL; Schema: core; Owner: postgres
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE core.row_locks TO chainlake_definer;

--
-- Name: TABLE sign_ins; Type: ACL; Schema: core; Owner: postgres
--

GRANT SELECT ON TABLE core.sign_ins TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE core.sign_ins TO chainlake_definer;

--
-- Name: TABLE sign_ins; Type: COMMENT; Schema: core; Owner: postgres
--

COMMENT ON TABLE core.sign_ins IS '@tenancy platform: token sign-ins per user, written only by core.note_sign_in';

--
-- Name: TABLE users; Type: ACL; Schema: core; Owner: postgres
--

GRANT SELECT ON TABLE core.users TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE core.users TO chainlake_definer;

--
-- Name: TABLE users; Type: COMMENT; Schema: core; Owner: postgres
--

COMMENT ON TABLE core.users IS '@tenancy identity: a person, member of one or more orgs';

--
-- Name: access; Type: TYPE; Schema: core; Owner: postgres
--

CREATE TYPE core.access AS ENUM (
    'member',
    'read',
    'write',
    'admin'
);


ALTER TYPE core.access OWNER TO postgres;

--
-- Name: add_member(text, text, text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.add_member(p_email text, p_org text, p_role text) RETURNS core.memberships
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_role core.member_role := core.check_member_role(p_role);
    v_user core.users := core.user_by_email(p_email);
    v_org core.orgs := core.org_by_name(p_org);
    created core.memberships;
BEGIN
    INSERT INTO core.memberships (org_id, user_id, role) VALUES (v_org.id, v_user.id, v_role)
    ON CONFLICT (org_id, user_id) DO NOTHING
    RETURNING * INTO created;
    IF created.org_id IS NULL THEN
        RAISE EXCEPTION 'user "%" is already a member of org "%"', v_user.email, p_org
            USING ERRCODE = '23505';
    END IF;
    RETURN created;
END
$$;


ALTER FUNCTION core.add_member(p_email text, p_org text, p_role text) OWNER TO postgres;

--
-- Name: admit_definer(regclass); Type: PROCEDURE; Schema: core; Owner: postgres
--

CREATE PROCEDURE core.admit_definer(IN tbl regclass)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO chainlake_definer', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "the platform''s definer functions" ON %s', tbl);
    EXECUTE format('CREATE POLICY "the platform''s definer functions" ON %s FOR ALL TO chainlake_definer USING (true) WITH CHECK (true)', tbl);
END
$$;


ALTER PROCEDURE core.admit_definer(IN tbl regclass) OWNER TO postgres;

--
-- Name: allow_egress(text, text); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.allow_egress(p_address text, p_note text DEFAULT 'operator'::text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM core.set_egress_addresses('allowed', p_note, ARRAY[p_address], false);
END
$$;


ALTER FUNCTION core.allow_egress(p_address text, p_note text) OWNER TO chainlake_definer;

--
-- Name: api_requests; Type: ROW SECURITY; Schema: core; Owner: postgres
--

ALTER TABLE core.api_requests ENABLE ROW LEVEL SECURITY;

--
-- Name: api_requests; Type: TABLE; Schema: core; Owner: postgres
--

CREATE TABLE core.api_requests (
    user_id uuid NOT NULL,
    minute timestamp with time zone NOT NULL,
    count integer DEFAULT 0 NOT NULL
);

ALTER TABLE ONLY core.api_requests FORCE ROW LEVEL SECURITY;


ALTER TABLE core.api_requests OWNER TO postgres;

--
-- Name: api_requests api_requests_pkey; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.api_requests
    ADD CONSTRAINT api_requests_pkey PRIMARY KEY (user_id, minute);

--
-- Name: api_requests api_requests_user_id_fkey; Type: FK CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.api_requests
    ADD CONSTRAINT api_requests_user_id_fkey FOREIGN KEY (user_id) REFERENCES core.users(id) ON DELETE CASCADE;

--
-- Name: api_requests people read their own request counts; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "people read their own request counts" ON core.api_requests FOR SELECT TO chainlake_users USING ((user_id = ( SELECT core.caller_user_id() AS caller_user_id)));

--
-- Name: api_requests the platform's definer functions; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON core.api_requests TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: apply_org_data_policies(regclass); Type: PROCEDURE; Schema: core; Owner: postgres
--

CREATE PROCEDURE core.apply_org_data_policies(IN tbl regclass)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    readable constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''read''))::uuid[])';
    writable constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''write''))::uuid[])';
BEGIN
    CALL core.force_rls(tbl);
    CALL core.grant_people_writes(tbl);
    EXECUTE format('DROP POLICY IF EXISTS "members read their orgs rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "members read their orgs rows" ON %s FOR SELECT TO chainlake_users USING (%s)', tbl, readable);
    EXECUTE format('DROP POLICY IF EXISTS "writers add rows to their orgs" ON %s', tbl);
    EXECUTE format('CREATE POLICY "writers add rows to their orgs" ON %s FOR INSERT TO chainlake_users WITH CHECK (%s)', tbl, writable);
    EXECUTE format('DROP POLICY IF EXISTS "writers change their orgs rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "writers change their orgs rows" ON %s FOR UPDATE TO chainlake_users USING (%s) WITH CHECK (%s)', tbl, writable, writable);
    EXECUTE format('DROP POLICY IF EXISTS "writers delete their orgs rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "writers delete their orgs rows" ON %s FOR DELETE TO chainlake_users USING (%s)', tbl, writable);
END
$$;


ALTER PROCEDURE core.apply_org_data_policies(IN tbl regclass) OWNER TO postgres;

--
-- Name: apply_org_platform_policies(regclass); Type: PROCEDURE; Schema: core; Owner: postgres
--

CREATE PROCEDURE core.apply_org_platform_policies(IN tbl regclass)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    readable constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''read''))::uuid[])';
    writable constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''write''))::uuid[])';
BEGIN
    CALL core.force_rls(tbl);
    EXECUTE format('GRANT SELECT ON %s TO chainlake_users', tbl);
    EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %s TO chainlake_runner', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "members read their orgs rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "members read their orgs rows" ON %s FOR SELECT TO chainlake_users USING (%s)', tbl, readable);
    EXECUTE format('DROP POLICY IF EXISTS "runners write for the org they act for" ON %s', tbl);
    EXECUTE format('CREATE POLICY "runners write for the org they act for" ON %s FOR ALL TO chainlake_runner USING (%s) WITH CHECK (%s)', tbl, writable, writable);
    -- the standard set, if an earlier version of this table had it
    EXECUTE format('DROP POLICY IF EXISTS "writers add rows to their orgs" ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "writers change their orgs rows" ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "writers delete their orgs rows" ON %s', tbl);
END
$$;


ALTER PROCEDURE core.apply_org_platform_policies(IN tbl regclass) OWNER TO postgres;

--
-- Name: apply_org_readonly_policies(regclass); Type: PROCEDURE; Schema: core; Owner: postgres
--

CREATE PROCEDURE core.apply_org_readonly_policies(IN tbl regclass)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    readable constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''read''))::uuid[])';
BEGIN
    CALL core.force_rls(tbl);
    EXECUTE format('GRANT SELECT ON %s TO chainlake_users', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "members read their orgs rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "members read their orgs rows" ON %s FOR SELECT TO chainlake_users USING (%s)', tbl, readable);
END
$$;


ALTER PROCEDURE core.apply_org_readonly_policies(IN tbl regclass) OWNER TO postgres;

--
-- Name: apply_platform_limits(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.apply_platform_limits() RETURNS void
    LANGUAGE sql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT core.set_session_timeouts('chainlake_api', l.api_statement_timeout_ms,
                                     l.api_lock_timeout_ms, l.api_idle_in_transaction_ms)
    FROM core.platform_limits l
$$;


ALTER FUNCTION core.apply_platform_limits() OWNER TO postgres;

--
-- Name: apply_session_limits(uuid); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.apply_session_limits(p_user_id uuid) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    login name := (SELECT u.db_role FROM core.users u WHERE u.id = p_user_id);
    limits record;
BEGIN
    SELECT * INTO limits FROM core.session_limits(p_user_id);
    IF login IS NULL OR limits.connections IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('ALTER ROLE %I CONNECTION LIMIT %s', login, limits.connections);
    PERFORM core.set_session_timeouts(login, limits.statement_timeout_ms,
                                      limits.lock_timeout_ms, limits.idle_in_transaction_ms);
    -- temp_file_limit is a superuser's setting: the user cannot lift it in their session
    EXECUTE format('ALTER ROLE %I SET temp_file_limit = %L', login, limits.temp_file_mb || 'MB');
END
$$;


ALTER FUNCTION core.apply_session_limits(p_user_id uuid) OWNER TO postgres;

--
-- Name: apply_user_private_policies(regclass); Type: PROCEDURE; Schema: core; Owner: postgres
--

CREATE PROCEDURE core.apply_user_private_policies(IN tbl regclass)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    member constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''member''))::uuid[])';
    mine constant text := 'owner_id = (SELECT core.caller_user_id())';
    shares_ok constant text := '(visibility = ''private'' OR org_id = ANY ((SELECT core.caller_org_ids(''write''))::uuid[]))';
    admin_shared constant text := '(visibility = ''org'' AND org_id = ANY ((SELECT core.caller_org_ids(''admin''))::uuid[]))';
BEGIN
    CALL core.force_rls(tbl);
    CALL core.grant_people_writes(tbl);
    EXECUTE format('DROP POLICY IF EXISTS "owners and their org read shared rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "owners and their org read shared rows" ON %s FOR SELECT TO chainlake_users USING (%s AND (visibility = ''org'' OR %s))', tbl, member, mine);
    EXECUTE format('DROP POLICY IF EXISTS "members add their own rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "members add their own rows" ON %s FOR INSERT TO chainlake_users WITH CHECK (%s AND %s AND %s)', tbl, member, mine, shares_ok);
    EXECUTE format('DROP POLICY IF EXISTS "owners change their own rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "owners change their own rows" ON %s FOR UPDATE TO chainlake_users USING (%s AND %s) WITH CHECK (%s AND %s AND %s)', tbl, member, mine, member, mine, shares_ok);
    EXECUTE format('DROP POLICY IF EXISTS "owners or admins delete rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "owners or admins delete rows" ON %s FOR DELETE TO chainlake_users USING (%s AND (%s OR %s))', tbl, member, mine, admin_shared);
END
$$;


ALTER PROCEDURE core.apply_user_private_policies(IN tbl regclass) OWNER TO postgres;

--
-- Name: audit_access_change(); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.audit_access_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    changed jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
    action text := CASE TG_TABLE_NAME WHEN 'memberships' THEN 'member.' ELSE 'grant.' END
                   || CASE TG_OP WHEN 'INSERT' THEN 'add' WHEN 'UPDATE' THEN 'change'
                                 ELSE 'remove' END;
    -- a grant names its grantee org by name: the grantor's admins read this event, and an
    -- org's id is not theirs to learn
    grantee text := (SELECT o.name FROM core.orgs o
                     WHERE o.id = core.try_uuid(changed ->> 'grantee_org_id'));
    target text := coalesce(changed ->> 'user_id', grantee);
BEGIN
    PERFORM audit.record((changed ->> 'org_id')::uuid, action, target,
                         changed - 'org_id' - 'created_at' - 'grantee_org_id'
                         || CASE WHEN grantee IS NULL THEN '{}'::jsonb
                                 ELSE jsonb_build_object('grantee', grantee) END);
    RETURN NULL;
END
$$;


ALTER FUNCTION core.audit_access_change() OWNER TO chainlake_definer;

--
-- Name: audit_config_change(); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.audit_config_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    noise constant text[] := ARRAY['updated_at', 'created_at', 'applied_at', 'last_error',
                                   'predicate', 'value_enc', 'secret_enc'];
    new_row jsonb := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END;
    old_row jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END;
    changed jsonb := coalesce(new_row, old_row);
    -- a secret's new value is a change worth recording (that it changed, never the value)
    rotated boolean := TG_OP = 'UPDATE' AND (
        (new_row -> 'value_enc') IS DISTINCT FROM (old_row -> 'value_enc')
        OR (new_row -> 'secret_enc') IS DISTINCT FROM (old_row -> 'secret_enc'));
BEGIN
    IF TG_OP = 'UPDATE' AND (new_row - noise) = (old_row - noise) AND NOT rotated THEN
        RETURN NULL;
    END IF;
    PERFORM audit.record(
        (changed ->> 'org_id')::uuid,
        TG_ARGV[0] || CASE TG_OP WHEN 'INSERT' THEN '.add' WHEN 'UPDATE' THEN '.change'
                                 ELSE '.remove' END,
        coalesce(changed ->> TG_ARGV[1], ''),
        (changed - noise) - 'org_id'
            || CASE WHEN rotated THEN '{"value_changed": true}'::jsonb ELSE '{}' END);
    RETURN NULL;
END
$$;


ALTER FUNCTION core.audit_config_change() OWNER TO chainlake_definer;

--
-- Name: caller_is_operator(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.caller_is_operator() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT coalesce((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user), false)
$$;


ALTER FUNCTION core.caller_is_operator() OWNER TO postgres;

--
-- Name: caller_may_read_global(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.caller_may_read_global() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT session_user = 'chainlake_runner' OR core.caller_user_id() IS NOT NULL
$$;


ALTER FUNCTION core.caller_may_read_global() OWNER TO postgres;

--
-- Name: caller_may_write(uuid); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.caller_may_write(p_org_id uuid) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT p_org_id IS NOT NULL
       AND (p_org_id = ANY (core.caller_org_ids('write')) OR core.caller_is_operator())
$$;


ALTER FUNCTION core.caller_may_write(p_org_id uuid) OWNER TO postgres;

--
-- Name: caller_org_ids(core.access); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.caller_org_ids(access core.access) RETURNS uuid[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    runner_org uuid;
    caller uuid;
    scope jsonb;
    result uuid[];
BEGIN
    IF session_user = 'chainlake_runner' THEN
        runner_org := core.runner_org_id();
    ELSE
        caller := core.caller_user_id();
        scope := core.token_org_roles();
    END IF;
    IF runner_org IS NULL AND caller IS NULL THEN
        RETURN '{}';
    END IF;
    WITH mine AS (
        SELECT m.org_id, core.narrow_role(m.role, scope, m.org_id) AS role
        FROM core.memberships m WHERE m.user_id = caller
        UNION ALL
        SELECT runner_org, 'writer'::core.member_role WHERE runner_org IS NOT NULL
    ), allowed AS (
        SELECT org_id FROM mine
        WHERE role IS NOT NULL AND CASE access
            WHEN 'member' THEN true
            WHEN 'read' THEN true
            WHEN 'write' THEN role IN ('writer', 'admin')
            WHEN 'admin' THEN role = 'admin'
        END
        UNION
        SELECT g.org_id FROM core.org_grants g
        JOIN mine ON g.grantee_org_id = mine.org_id AND mine.role IS NOT NULL
        WHERE access = 'read' AND g.privilege = 'read'
    )
    SELECT coalesce(array_agg(org_id ORDER BY org_id), '{}') INTO result FROM allowed;
    RETURN result;
END
$$;


ALTER FUNCTION core.caller_org_ids(access core.access) OWNER TO chainlake_definer;

--
-- Name: caller_user_id(); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.caller_user_id() RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    found uuid;
BEGIN
    IF session_user = 'chainlake_api' THEN
        SELECT u.id INTO found FROM core.users u
        WHERE u.id = core.try_uuid(core.request_claims() ->> 'sub') AND u.disabled_at IS NULL;
    ELSIF session_user::text <> 'chainlake_runner' THEN
        SELECT u.id INTO found FROM core.users u
        WHERE u.db_role = session_user AND u.disabled_at IS NULL;
    END IF;
    RETURN found;
END
$$;


ALTER FUNCTION core.caller_user_id() OWNER TO chainlake_definer;

--
-- Name: charge_api_request(); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.charge_api_request() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    caller uuid := core.caller_user_id();
    this_minute timestamptz := date_trunc('minute', now());
    allowed integer;
    used integer;
    wait integer;
BEGIN
    IF caller IS NULL THEN
        RETURN 0;
    END IF;
    SELECT coalesce(max(q.api_requests_per_minute), 600) INTO allowed
    FROM core.quotas q JOIN core.memberships m ON m.org_id = q.org_id
    WHERE m.user_id = caller;
    INSERT INTO core.api_requests AS a (user_id, minute, count) VALUES (caller, this_minute, 1)
    ON CONFLICT (user_id, minute) DO UPDATE SET count = a.count + 1
    RETURNING a.count INTO used;
    IF used = 1 THEN
        DELETE FROM core.api_requests
        WHERE user_id = caller AND minute < this_minute - interval '10 minutes';
    END IF;
    IF used > allowed THEN
        wait := greatest(1, ceil(extract(epoch FROM this_minute + interval '1 minute' - now()))::integer);
        RAISE EXCEPTION 'rate limit: % API requests a minute', allowed
            USING ERRCODE = '53400', DETAIL = format('retry_after=%s', wait),
            HINT = 'wait for the next minute, or ask the operator for a higher api_requests_per_minute quota';
    END IF;
    RETURN allowed - used;
END
$$;


ALTER FUNCTION core.charge_api_request() OWNER TO chainlake_definer;

--
-- Name: check_member_role(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.check_member_role(p_role text) RETURNS core.member_role
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF p_role IS NULL OR p_role NOT IN ('reader', 'writer', 'admin') THEN
        RAISE EXCEPTION 'unknown role "%": use reader, writer or admin', coalesce(p_role, '')
            USING ERRCODE = '22023';
    END IF;
    RETURN p_role::core.member_role;
END
$$;


ALTER FUNCTION core.check_member_role(p_role text) OWNER TO postgres;

--
-- Name: check_storage_quota(uuid, bigint); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.check_storage_quota(p_org_id uuid, p_new_bytes bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    allowed bigint;
    used bigint;
BEGIN
    PERFORM core.lock_until_commit('core.storage', p_org_id);
    SELECT q.storage_bytes INTO allowed FROM core.quotas q WHERE q.org_id = p_org_id;
    SELECT coalesce(sum(v.bytes), 0) INTO used
    FROM catalog.asset_versions v WHERE v.org_id = p_org_id;
    IF allowed IS NOT NULL AND used + coalesce(p_new_bytes, 0) > allowed THEN
        RAISE EXCEPTION 'storage quota: this version of % bytes would bring the org to % of its % bytes',
            coalesce(p_new_bytes, 0), used + coalesce(p_new_bytes, 0), allowed
            USING ERRCODE = '53100', DETAIL = 'retry_after=3600',
            HINT = 'delete asset versions the org no longer needs, or ask the operator for a higher storage_bytes quota';
    END IF;
    RETURN coalesce(allowed, 0) - used - coalesce(p_new_bytes, 0);
END
$$;


ALTER FUNCTION core.check_storage_quota(p_org_id uuid, p_new_bytes bigint) OWNER TO chainlake_definer;

--
-- Name: create_org(text, text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.create_org(p_name text, p_display_name text DEFAULT NULL::text) RETURNS core.orgs
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    created core.orgs;
BEGIN
    IF p_name IS NULL OR p_name !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid org name "%": use up to 63 lowercase letters, digits, "-" or "_", starting with a letter or digit',
            coalesce(p_name, '') USING ERRCODE = '22023';
    END IF;
    INSERT INTO core.orgs (name, display_name) VALUES (p_name, p_display_name)
    ON CONFLICT (name) DO NOTHING
    RETURNING * INTO created;
    IF created.id IS NULL THEN
        RAISE EXCEPTION 'org "%" already exists', p_name USING ERRCODE = '23505';
    END IF;
    INSERT INTO core.quotas (org_id) VALUES (created.id);
    PERFORM audit.record(created.id, 'org.create', p_name);
    RETURN created;
END
$_$;


ALTER FUNCTION core.create_org(p_name text, p_display_name text) OWNER TO postgres;

--
-- Name: create_user(text, text, text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.create_user(p_email text, p_org text, p_role text) RETURNS core.users
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    v_email text := lower(trim(coalesce(p_email, '')));
    v_role core.member_role := core.check_member_role(p_role);
    v_org core.orgs := core.org_by_name(p_org);
    v_id uuid := gen_random_uuid();
    v_db_role name := core.new_login_role_name();
    created core.users;
BEGIN
    IF v_email !~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' THEN
        RAISE EXCEPTION 'malformed email "%": expected name@domain.tld', coalesce(p_email, '')
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM core.users WHERE email = v_email) THEN
        RAISE EXCEPTION 'user "%" already exists', v_email USING ERRCODE = '23505',
            HINT = 'to add them to another org: `chainlake user add EMAIL --org ORG --role ROLE`';
    END IF;
    EXECUTE format('CREATE ROLE %I LOGIN INHERIT IN ROLE chainlake_users', v_db_role);
    INSERT INTO core.users (id, email, db_role) VALUES (v_id, v_email, v_db_role)
    RETURNING * INTO created;
    INSERT INTO core.memberships (org_id, user_id, role) VALUES (v_org.id, v_id, v_role);
    PERFORM audit.record(v_org.id, 'user.create', v_email, jsonb_build_object('role', v_role));
    RETURN created;
END
$_$;


ALTER FUNCTION core.create_user(p_email text, p_org text, p_role text) OWNER TO postgres;

--
-- Name: egress_addresses; Type: ROW SECURITY; Schema: core; Owner: postgres
--

ALTER TABLE core.egress_addresses ENABLE ROW LEVEL SECURITY;

--
-- Name: egress_addresses; Type: TABLE; Schema: core; Owner: postgres
--

CREATE TABLE core.egress_addresses (
    rule text NOT NULL,
    host text NOT NULL,
    port integer NOT NULL,
    note text DEFAULT ''::text NOT NULL,
    CONSTRAINT egress_addresses_host CHECK (((host <> ''::text) AND (host = lower(host)))),
    CONSTRAINT egress_addresses_port CHECK (((port >= 1) AND (port <= 65535))),
    CONSTRAINT egress_addresses_rule CHECK ((rule = ANY (ARRAY['allowed'::text, 'platform'::text])))
);

ALTER TABLE ONLY core.egress_addresses FORCE ROW LEVEL SECURITY;


ALTER TABLE core.egress_addresses OWNER TO postgres;

--
-- Name: egress_addresses egress_addresses_pkey; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.egress_addresses
    ADD CONSTRAINT egress_addresses_pkey PRIMARY KEY (rule, host, port);

--
-- Name: egress_addresses the operator reads egress addresses; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "the operator reads egress addresses" ON core.egress_addresses FOR SELECT USING (( SELECT core.caller_is_operator() AS caller_is_operator));

--
-- Name: egress_addresses the platform's definer functions; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON core.egress_addresses TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: egress_policy(); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.egress_policy() RETURNS TABLE(rule text, host text, port integer, note text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT 'refused', r.range::text, NULL::integer, r.reason FROM core.egress_ranges() r
    UNION ALL
    SELECT 'allowed', a.host, a.port, a.note FROM core.egress_addresses a WHERE a.rule = 'allowed'
    UNION ALL
    SELECT 'platform', p.host, p.port, p.note FROM core.platform_addresses() p
$$;


ALTER FUNCTION core.egress_policy() OWNER TO chainlake_definer;

--
-- Name: egress_ranges(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.egress_ranges() RETURNS TABLE(range cidr, reason text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT v.r::cidr, v.reason FROM (VALUES
        ('169.254.169.254/32', 'the cloud metadata address'),
        ('fd00:ec2::254/128', 'the cloud metadata address'),
        ('0.0.0.0/8', 'an unspecified address'),
        ('10.0.0.0/8', 'a private address'),
        ('100.64.0.0/10', 'a shared (carrier-grade NAT) address'),
        ('127.0.0.0/8', 'a loopback address'),
        ('169.254.0.0/16', 'a link-local address'),
        ('172.16.0.0/12', 'a private address'),
        ('192.0.0.0/24', 'a reserved address'),
        ('192.0.2.0/24', 'a reserved (documentation) address'),
        ('192.88.99.0/24', 'a reserved (6to4 relay) address'),
        ('192.168.0.0/16', 'a private address'),
        ('198.18.0.0/15', 'a reserved (benchmarking) address'),
        ('198.51.100.0/24', 'a reserved (documentation) address'),
        ('203.0.113.0/24', 'a reserved (documentation) address'),
        ('224.0.0.0/4', 'a multicast address'),
        ('240.0.0.0/4', 'a reserved address'),
        ('::/128', 'an unspecified address'),
        ('::1/128', 'a loopback address'),
        ('::/96', 'a reserved (IPv4-compatible) address'),
        ('::ffff:0:0/96', 'an IPv4-mapped address'),
        ('64:ff9b::/96', 'a translated (NAT64) address'),
        ('64:ff9b:1::/48', 'a translated (NAT64) address'),
        ('100::/64', 'a reserved (discard) address'),
        ('2001::/23', 'a reserved (IETF protocol) address'),
        ('2001:db8::/32', 'a reserved (documentation) address'),
        ('2002::/16', 'a reserved (6to4) address'),
        ('fc00::/7', 'a private (unique local) address'),
        ('fe80::/10', 'a link-local address'),
        ('fec0::/10', 'a reserved (site-local) address'),
        ('ff00::/8', 'a multicast address')
    ) AS v (r, reason)
    ORDER BY masklen(v.r::cidr) DESC, v.r
$$;


ALTER FUNCTION core.egress_ranges() OWNER TO postgres;

--
-- Name: egress_refusal(text, integer); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.egress_refusal(p_host text, p_port integer) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    h text := core.normal_host(p_host);
    addr inet := core.literal_address(h);
    shown text;
    why text;
BEGIN
    IF p_port IS NULL OR p_port NOT BETWEEN 1 AND 65535 THEN
        RETURN format('port %s is not a port (1 to 65535)', coalesce(p_port::text, '(none)'));
    ELSIF coalesce(h, '') = '' THEN
        RETURN 'no host';
    END IF;
    shown := CASE WHEN family(addr) = 6 THEN format('[%s]:%s', h, p_port)
                  ELSE format('%s:%s', h, p_port) END;
    IF EXISTS (SELECT 1 FROM core.platform_addresses() p
               WHERE p.port = p_port
                 AND (p.host = h OR (core.is_this_machine(p.host) AND (
                      core.is_this_machine(h) OR addr << '127.0.0.0/8'::inet)))) THEN
        RETURN format('%s is one of the platform''s own services', shown);
    END IF;
    IF EXISTS (SELECT 1 FROM core.egress_addresses a
               WHERE a.rule = 'allowed' AND a.host = h AND a.port = p_port) THEN
        RETURN NULL;
    END IF;
    IF addr IS NOT NULL THEN
        SELECT r.reason INTO why FROM core.egress_ranges() r WHERE addr <<= r.range
        ORDER BY masklen(r.range) DESC LIMIT 1;
        RETURN CASE WHEN why IS NOT NULL THEN format('%s is %s', h, why) END;
    ELSIF h = 'localhost' OR h LIKE '%.localhost' THEN
        RETURN format('%s is a loopback name', h);
    ELSIF h !~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'
          OR h ~ '(^|\.)([0-9]+|0x[0-9a-f]*)$' THEN
        RETURN format('"%s" is neither a host name nor an IP address in standard form', h);
    END IF;
    RETURN NULL;
END
$_$;


ALTER FUNCTION core.egress_refusal(p_host text, p_port integer) OWNER TO chainlake_definer;

--
-- Name: egress_url_refusal(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.egress_url_refusal(p_url text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT coalesce(u.problem, core.egress_refusal(u.host, u.port)) FROM core.split_url(p_url) u
$$;


ALTER FUNCTION core.egress_url_refusal(p_url text) OWNER TO postgres;

--
-- Name: encrypted_values(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.encrypted_values() RETURNS TABLE(kind text, org_id uuid, org text, name text, value bytea)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT 'job secret', s.org_id, o.name, s.name, s.value_enc
    FROM jobs.secrets s JOIN core.orgs o ON o.id = s.org_id
    UNION ALL
    SELECT 'webhook secret', w.org_id, o.name, w.job_name, w.secret_enc
    FROM jobs.webhook_secrets w JOIN core.orgs o ON o.id = w.org_id
    UNION ALL
    SELECT 'channel secret', c.org_id, o.name, c.name, c.secret_enc
    FROM alerts.channels c JOIN core.orgs o ON o.id = c.org_id
    WHERE c.secret_enc IS NOT NULL
$$;


ALTER FUNCTION core.encrypted_values() OWNER TO postgres;

--
-- Name: end_overdue_sessions(); Type: FUNCTION; Schema: core; Owner: chainlake_watchdog
--

CREATE FUNCTION core.end_overdue_sessions() RETURNS TABLE(pid integer, db_role name, reason text)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH in_transaction AS (
        SELECT a.pid, a.usename, a.state, a.xact_start, a.state_change
        FROM pg_catalog.pg_stat_activity a
        WHERE a.xact_start IS NOT NULL AND a.backend_type = 'client backend'
    ), overdue AS (
        SELECT o.pid, o.usename,
               CASE WHEN o.xact_start < clock_timestamp() - b.transaction_max_seconds * interval '1 second'
                    THEN format('in one transaction for more than %s s', b.transaction_max_seconds)
                    ELSE format('idle in a transaction for more than %s ms', b.idle_in_transaction_ms)
               END AS reason
        FROM in_transaction o
        JOIN core.session_bounds(ARRAY(SELECT DISTINCT usename FROM in_transaction)) b
          ON b.db_role = o.usename
        WHERE o.xact_start < clock_timestamp() - b.transaction_max_seconds * interval '1 second'
           OR (o.state LIKE 'idle in transaction%'
               AND o.state_change < clock_timestamp() - b.idle_in_transaction_ms * interval '1 millisecond')
    )
    SELECT o.pid, o.usename, o.reason FROM overdue o WHERE pg_catalog.pg_terminate_backend(o.pid)
$$;


ALTER FUNCTION core.end_overdue_sessions() OWNER TO chainlake_watchdog;

--
-- Name: force_rls(regclass); Type: PROCEDURE; Schema: core; Owner: postgres
--

CREATE PROCEDURE core.force_rls(IN tbl regclass)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, chainlake_users, chainlake_authenticated, chainlake_api, chainlake_runner, chainlake_ingest, chainlake_alerts', tbl);
    CALL core.admit_definer(tbl);
END
$$;


ALTER PROCEDURE core.force_rls(IN tbl regclass) OWNER TO postgres;

--
-- Name: forget_egress(text); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.forget_egress(p_address text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    a record := core.split_address(p_address);
BEGIN
    IF NOT core.caller_is_operator() THEN
        RAISE EXCEPTION 'only the operator sets egress addresses' USING ERRCODE = '42501';
    END IF;
    DELETE FROM core.egress_addresses e
    WHERE e.rule = 'allowed' AND e.host = a.host AND e.port = a.port;
    RETURN FOUND;
END
$$;


ALTER FUNCTION core.forget_egress(p_address text) OWNER TO chainlake_definer;

--
-- Name: grant_org_read(text, text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.grant_org_read(p_from text, p_to text) RETURNS core.org_grants
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_from core.orgs := core.org_by_name(p_from);
    v_to core.orgs := core.org_by_name(p_to);
    created core.org_grants;
BEGIN
    IF v_from.id = v_to.id THEN
        RAISE EXCEPTION 'an org cannot grant access to itself' USING ERRCODE = '22023';
    END IF;
    INSERT INTO core.org_grants (org_id, grantee_org_id, privilege) VALUES (v_from.id, v_to.id, 'read')
    ON CONFLICT DO NOTHING
    RETURNING * INTO created;
    IF created.org_id IS NULL THEN
        RAISE EXCEPTION 'org "%" already grants read access to org "%"', p_from, p_to
            USING ERRCODE = '23505';
    END IF;
    RETURN created;
END
$$;


ALTER FUNCTION core.grant_org_read(p_from text, p_to text) OWNER TO postgres;

--
-- Name: grant_people_writes(regclass); Type: PROCEDURE; Schema: core; Owner: postgres
--

CREATE PROCEDURE core.grant_people_writes(IN tbl regclass)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    EXECUTE format('GRANT SELECT, INSERT ON %s TO chainlake_users', tbl);
    EXECUTE format('GRANT UPDATE (%s) ON %s TO chainlake_users',
                   (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                    FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped),
                   tbl);
END
$$;


ALTER PROCEDURE core.grant_people_writes(IN tbl regclass) OWNER TO postgres;

--
-- Name: is_this_machine(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.is_this_machine(p_host text) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT p_host IN ('localhost', '127.0.0.1', '::1', '0.0.0.0', '::')
$$;


ALTER FUNCTION core.is_this_machine(p_host text) OWNER TO postgres;

--
-- Name: literal_address(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.literal_address(p_host text) RETURNS inet
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
BEGIN
    IF p_host IS NULL OR p_host !~ '^[0-9a-fA-F:.]+$' OR p_host !~ '[.:]' THEN
        RETURN NULL;
    END IF;
    RETURN p_host::inet;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END
$_$;


ALTER FUNCTION core.literal_address(p_host text) OWNER TO postgres;

--
-- Name: lock_until_commit(text, uuid); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.lock_until_commit(p_purpose text, p_subject uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM 1 FROM core.row_locks WHERE purpose = p_purpose AND subject = p_subject FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO core.row_locks (purpose, subject) VALUES (p_purpose, p_subject)
        ON CONFLICT DO NOTHING;
        PERFORM 1 FROM core.row_locks WHERE purpose = p_purpose AND subject = p_subject
        FOR UPDATE;
    END IF;
END
$$;


ALTER FUNCTION core.lock_until_commit(p_purpose text, p_subject uuid) OWNER TO chainlake_definer;

--
-- Name: member_limits_changed(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.member_limits_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM core.apply_session_limits(NEW.user_id);
    RETURN NULL;
END
$$;


ALTER FUNCTION core.member_limits_changed() OWNER TO postgres;

--
-- Name: member_org(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.member_org(p_org text) RETURNS uuid
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    found uuid;
BEGIN
    SELECT id INTO found FROM core.orgs
    WHERE name = p_org AND id = ANY (core.caller_org_ids('member'));
    IF found IS NULL THEN
        RAISE EXCEPTION 'unknown org "%"', p_org USING ERRCODE = '42704',
            HINT = 'name an org you belong to';
    END IF;
    RETURN found;
END
$$;


ALTER FUNCTION core.member_org(p_org text) OWNER TO postgres;

--
-- Name: member_role; Type: TYPE; Schema: core; Owner: postgres
--

CREATE TYPE core.member_role AS ENUM (
    'reader',
    'writer',
    'admin'
);


ALTER TYPE core.member_role OWNER TO postgres;

--
-- Name: memberships; Type: ROW SECURITY; Schema: core; Owner: postgres
--

ALTER TABLE core.memberships ENABLE ROW LEVEL SECURITY;

--
-- Name: memberships; Type: TABLE; Schema: core; Owner: postgres
--

CREATE TABLE core.memberships (
    org_id uuid NOT NULL,
    user_id uuid NOT NULL,
    role core.member_role NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY core.memberships FORCE ROW LEVEL SECURITY;


ALTER TABLE core.memberships OWNER TO postgres;

--
-- Name: memberships admins change roles; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "admins change roles" ON core.memberships FOR UPDATE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: memberships admins remove members; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "admins remove members" ON core.memberships FOR DELETE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: memberships members see their orgs memberships; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "members see their orgs memberships" ON core.memberships FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: memberships memberships_audited; Type: TRIGGER; Schema: core; Owner: postgres
--

CREATE TRIGGER memberships_audited AFTER INSERT OR DELETE OR UPDATE ON core.memberships FOR EACH ROW EXECUTE FUNCTION core.audit_access_change();

--
-- Name: memberships memberships_org_id_fkey; Type: FK CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.memberships
    ADD CONSTRAINT memberships_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: memberships memberships_pkey; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.memberships
    ADD CONSTRAINT memberships_pkey PRIMARY KEY (org_id, user_id);

--
-- Name: memberships memberships_session_limits; Type: TRIGGER; Schema: core; Owner: postgres
--

CREATE TRIGGER memberships_session_limits AFTER INSERT ON core.memberships FOR EACH ROW EXECUTE FUNCTION core.member_limits_changed();

--
-- Name: memberships memberships_user_id_fkey; Type: FK CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.memberships
    ADD CONSTRAINT memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES core.users(id) ON DELETE CASCADE;

--
-- Name: memberships the platform's definer functions; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON core.memberships TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: memberships_user_idx; Type: INDEX; Schema: core; Owner: postgres
--

CREATE INDEX memberships_user_idx ON core.memberships USING btree (user_id, org_id);

--
-- Name: metrics_snapshot(integer[], double precision[]); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.metrics_snapshot(p_depth_bounds integer[], p_latency_bounds double precision[]) RETURNS TABLE(family text, labels jsonb, value double precision, buckets bigint[])
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT 'queue_depth', jsonb_build_object('queue', q.name), q.depth::double precision, NULL::bigint[]
    FROM (SELECT 'run_tasks' AS name, count(*) AS depth FROM pgmq.q_run_tasks
          UNION ALL
          SELECT 'alert_deliveries', count(*) FROM pgmq.q_alert_deliveries) q
    UNION ALL
    SELECT 'queue_oldest_age_seconds', jsonb_build_object('queue', q.name),
           coalesce(extract(epoch FROM now() - q.oldest), 0)::double precision, NULL
    FROM (SELECT 'run_tasks' AS name, (SELECT min(enqueued_at) FROM pgmq.q_run_tasks) AS oldest
          UNION ALL
          SELECT 'alert_deliveries', (SELECT min(enqueued_at) FROM pgmq.q_alert_deliveries)) q
    UNION ALL
    SELECT 'dead_letters', jsonb_build_object('org', o.name), count(d.id)::double precision, NULL
    FROM core.orgs o JOIN runs.dead_letters d ON d.org_id = o.id AND d.replayed_at IS NULL
    GROUP BY o.name
    UNION ALL
    SELECT 'ingest_head_block', jsonb_build_object('chain', c.name), c.head::double precision,
           NULL
    FROM chain.chains c WHERE c.head IS NOT NULL
    UNION ALL
    SELECT 'ingest_lag_seconds', jsonb_build_object('chain', c.name),
           greatest(0, extract(epoch FROM now() - b.timestamp))::double precision, NULL
    FROM chain.chains c JOIN chain.blocks b ON b.chain_id = c.chain_id AND b.number = c.head
    UNION ALL
    SELECT 'reorgs', jsonb_build_object('chain', c.name), count(r.id)::double precision, NULL
    FROM chain.chains c LEFT JOIN chain.reorgs r ON r.chain_id = c.chain_id
    GROUP BY c.name
    UNION ALL
    SELECT 'reorg_depth', jsonb_build_object('chain', k.name),
           coalesce((SELECT sum(d) FROM unnest(k.depths) d), 0)::double precision,
           ARRAY(SELECT count(d) FILTER (WHERE d <= bound)
                 FROM unnest(p_depth_bounds) bound LEFT JOIN unnest(k.depths) d ON true
                 GROUP BY bound ORDER BY bound) || cardinality(k.depths)::bigint
    FROM (SELECT c.name, array_remove(array_agg(r.depth), NULL) AS depths
          FROM chain.chains c LEFT JOIN chain.reorgs r ON r.chain_id = c.chain_id
          GROUP BY c.chain_id, c.name) k
    UNION ALL
    SELECT 'alert_firings', jsonb_build_object('org', o.name), count(*)::double precision, NULL
    FROM alerts.firings f JOIN core.orgs o ON o.id = f.org_id
    WHERE NOT f.backtest
    GROUP BY o.name
    UNION ALL
    SELECT 'alert_delivery_seconds', jsonb_build_object('kind', k.kind),
           (SELECT sum(s) FROM unnest(k.seconds) s),
           ARRAY(SELECT count(s) FILTER (WHERE s <= bound)
                 FROM unnest(p_latency_bounds) bound LEFT JOIN unnest(k.seconds) s ON true
                 GROUP BY bound ORDER BY bound) || cardinality(k.seconds)::bigint
    FROM (SELECT ch.kind,
                 array_agg(extract(epoch FROM dl.delivered_at - dl.created_at)::double precision)
                     AS seconds
          FROM alerts.deliveries dl
          JOIN alerts.channels ch ON ch.org_id = dl.org_id AND ch.name = dl.channel
          WHERE dl.state = 'delivered' AND dl.delivered_at IS NOT NULL
          GROUP BY ch.kind) k
$$;


ALTER FUNCTION core.metrics_snapshot(p_depth_bounds integer[], p_latency_bounds double precision[]) OWNER TO chainlake_definer;

--
-- Name: narrow_role(core.member_role, jsonb, uuid); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.narrow_role(p_role core.member_role, p_scope jsonb, p_org uuid) RETURNS core.member_role
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT CASE WHEN p_scope IS NULL THEN p_role
                WHEN named IN ('reader', 'writer', 'admin') THEN least(p_role, named::core.member_role)
           END
    FROM (SELECT coalesce(p_scope ->> p_org::text, p_scope ->> '*') AS named) token
$$;


ALTER FUNCTION core.narrow_role(p_role core.member_role, p_scope jsonb, p_org uuid) OWNER TO postgres;

--
-- Name: new_login_role_name(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.new_login_role_name() RETURNS name
    LANGUAGE sql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT ('clu_' || replace(gen_random_uuid()::text, '-', ''))::name
$$;


ALTER FUNCTION core.new_login_role_name() OWNER TO postgres;

--
-- Name: normal_host(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.normal_host(p_host text) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT coalesce(pg_catalog.host(core.literal_address(h)), h)
    FROM (SELECT rtrim(btrim(lower(p_host), '[]'), '.') AS h) n
$$;


ALTER FUNCTION core.normal_host(p_host text) OWNER TO postgres;

--
-- Name: note_sign_in(bytea, text, timestamp with time zone, jsonb); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.note_sign_in(p_token_sha256 bytea, p_issuer text, p_expires_at timestamp with time zone, p_detail jsonb) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    caller uuid := core.caller_user_id();
    org uuid;
    detail jsonb := coalesce(p_detail, '{}') || jsonb_build_object('expires_at', p_expires_at);
    n integer := 0;
BEGIN
    IF caller IS NULL THEN
        RETURN 'unknown';
    END IF;
    INSERT INTO core.sign_ins (token_sha256, user_id, issuer, expires_at)
    VALUES (p_token_sha256, caller, p_issuer, p_expires_at)
    ON CONFLICT (token_sha256) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'seen';
    END IF;
    DELETE FROM core.sign_ins WHERE user_id = caller AND expires_at < now() - interval '1 hour';
    FOREACH org IN ARRAY core.caller_org_ids('member') LOOP
        PERFORM audit.record(org, 'auth.login', p_issuer, detail);
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        PERFORM audit.record(NULL, 'auth.login', p_issuer, detail);
    END IF;
    RETURN 'new';
END
$$;


ALTER FUNCTION core.note_sign_in(p_token_sha256 bytea, p_issuer text, p_expires_at timestamp with time zone, p_detail jsonb) OWNER TO chainlake_definer;

--
-- Name: oidc_identity(text, jsonb); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.oidc_identity(p_email text, p_org_roles jsonb) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT jsonb_build_object('sub', u.id)
        || CASE WHEN p_org_roles IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('org_roles', coalesce((
                    SELECT jsonb_object_agg(coalesce(o.id::text, '*'), r.value)
                    FROM jsonb_each_text(p_org_roles) r
                    LEFT JOIN core.orgs o ON o.name = r.key
                    WHERE r.key = '*' OR o.id IS NOT NULL), '{}'::jsonb))
           END
    FROM core.users u
    WHERE u.email = lower(p_email) AND u.disabled_at IS NULL
$$;


ALTER FUNCTION core.oidc_identity(p_email text, p_org_roles jsonb) OWNER TO chainlake_definer;

--
-- Name: org_by_name(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.org_by_name(p_name text) RETURNS core.orgs
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    match core.orgs;
BEGIN
    SELECT * INTO match FROM core.orgs WHERE name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown org "%"', p_name USING ERRCODE = '42704',
            HINT = 'list orgs with `chainlake org list`; create one with `chainlake org create NAME`';
    END IF;
    RETURN match;
END
$$;


ALTER FUNCTION core.org_by_name(p_name text) OWNER TO postgres;

--
-- Name: org_grants; Type: ROW SECURITY; Schema: core; Owner: postgres
--

ALTER TABLE core.org_grants ENABLE ROW LEVEL SECURITY;

--
-- Name: org_grants; Type: TABLE; Schema: core; Owner: postgres
--

CREATE TABLE core.org_grants (
    org_id uuid NOT NULL,
    grantee_org_id uuid NOT NULL,
    privilege text DEFAULT 'read'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by uuid,
    CONSTRAINT org_grants_not_self CHECK ((org_id <> grantee_org_id)),
    CONSTRAINT org_grants_privilege CHECK ((privilege = 'read'::text))
);

ALTER TABLE ONLY core.org_grants FORCE ROW LEVEL SECURITY;


ALTER TABLE core.org_grants OWNER TO postgres;

--
-- Name: org_grants admins grant their orgs data; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "admins grant their orgs data" ON core.org_grants FOR INSERT TO chainlake_users WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: org_grants admins revoke their grants; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "admins revoke their grants" ON core.org_grants FOR DELETE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: org_grants admins see grants they gave; members see grants they got; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "admins see grants they gave; members see grants they got" ON core.org_grants FOR SELECT TO chainlake_users USING (((org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[])) OR (grantee_org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[]))));

--
-- Name: org_grants org_grants_audited; Type: TRIGGER; Schema: core; Owner: postgres
--

CREATE TRIGGER org_grants_audited AFTER INSERT OR DELETE OR UPDATE ON core.org_grants FOR EACH ROW EXECUTE FUNCTION core.audit_access_change();

--
-- Name: org_grants org_grants_created_by_fkey; Type: FK CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.org_grants
    ADD CONSTRAINT org_grants_created_by_fkey FOREIGN KEY (created_by) REFERENCES core.users(id) ON DELETE SET NULL;

--
-- Name: org_grants org_grants_grantee_org_id_fkey; Type: FK CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.org_grants
    ADD CONSTRAINT org_grants_grantee_org_id_fkey FOREIGN KEY (grantee_org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: org_grants org_grants_org_id_fkey; Type: FK CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.org_grants
    ADD CONSTRAINT org_grants_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: org_grants org_grants_pkey; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.org_grants
    ADD CONSTRAINT org_grants_pkey PRIMARY KEY (org_id, grantee_org_id, privilege);

--
-- Name: org_grants org_grants_stamp_creator; Type: TRIGGER; Schema: core; Owner: postgres
--

CREATE TRIGGER org_grants_stamp_creator BEFORE INSERT OR UPDATE ON core.org_grants FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');

--
-- Name: org_grants the platform's definer functions; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON core.org_grants TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: org_grants_grantee_idx; Type: INDEX; Schema: core; Owner: postgres
--

CREATE INDEX org_grants_grantee_idx ON core.org_grants USING btree (grantee_org_id, org_id);

--
-- Name: org_label(uuid); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.org_label(p_org_id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT name FROM core.orgs WHERE id = p_org_id
$$;


ALTER FUNCTION core.org_label(p_org_id uuid) OWNER TO chainlake_definer;

--
-- Name: orgs; Type: ROW SECURITY; Schema: core; Owner: postgres
--

ALTER TABLE core.orgs ENABLE ROW LEVEL SECURITY;

--
-- Name: orgs; Type: TABLE; Schema: core; Owner: postgres
--

CREATE TABLE core.orgs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    display_name text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    system boolean DEFAULT false NOT NULL,
    CONSTRAINT orgs_name_format CHECK ((name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'::text))
);

ALTER TABLE ONLY core.orgs FORCE ROW LEVEL SECURITY;


ALTER TABLE core.orgs OWNER TO postgres;

--
-- Name: orgs admins rename their orgs; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "admins rename their orgs" ON core.orgs FOR UPDATE TO chainlake_users USING ((id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: orgs members see orgs that shared an object with them; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "members see orgs that shared an object with them" ON core.orgs FOR SELECT TO chainlake_users USING ((id = ANY (( SELECT catalog.granting_org_ids() AS granting_org_ids)::uuid[])));

--
-- Name: orgs members see their orgs and orgs that share with them; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "members see their orgs and orgs that share with them" ON core.orgs FOR SELECT TO chainlake_users USING ((id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: orgs orgs_name_key; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.orgs
    ADD CONSTRAINT orgs_name_key UNIQUE (name);

--
-- Name: orgs orgs_pkey; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.orgs
    ADD CONSTRAINT orgs_pkey PRIMARY KEY (id);

--
-- Name: orgs the platform's definer functions; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON core.orgs TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: platform_addresses(); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.platform_addresses() RETURNS TABLE(host text, port integer, note text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT a.host, a.port, a.note FROM core.egress_addresses a WHERE a.rule = 'platform'
    UNION
    SELECT 'localhost', pg_catalog.current_setting('port')::integer, 'Postgres'
    UNION
    SELECT u.host, u.port, 'chain node'
    FROM jobs.definitions d
    JOIN core.orgs o ON o.id = d.org_id AND o.system
    CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(d.spec #> '{config,chain,rpc_urls}') = 'array'
             THEN d.spec #> '{config,chain,rpc_urls}' ELSE '[]' END) r
    CROSS JOIN LATERAL core.split_url(r) u
    WHERE u.host IS NOT NULL
$$;


ALTER FUNCTION core.platform_addresses() OWNER TO chainlake_definer;

--
-- Name: platform_credential_allowed(uuid, text); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.platform_credential_allowed(p_org_id uuid, p_name text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT p_name IN ('chain_writer', 'alert_sender')
       AND coalesce((SELECT system FROM core.orgs WHERE id = p_org_id), false)
$$;


ALTER FUNCTION core.platform_credential_allowed(p_org_id uuid, p_name text) OWNER TO chainlake_definer;

--
-- Name: platform_limits; Type: ROW SECURITY; Schema: core; Owner: postgres
--

ALTER TABLE core.platform_limits ENABLE ROW LEVEL SECURITY;

--
-- Name: platform_limits; Type: TABLE; Schema: core; Owner: postgres
--

CREATE TABLE core.platform_limits (
    singleton boolean DEFAULT true NOT NULL,
    api_statement_timeout_ms integer DEFAULT 30000 NOT NULL,
    api_lock_timeout_ms integer DEFAULT 2000 NOT NULL,
    api_idle_in_transaction_ms integer DEFAULT 30000 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT platform_limits_api_idle_in_transaction_ms_check CHECK ((api_idle_in_transaction_ms >= 100)),
    CONSTRAINT platform_limits_api_lock_timeout_ms_check CHECK ((api_lock_timeout_ms >= 10)),
    CONSTRAINT platform_limits_api_statement_timeout_ms_check CHECK ((api_statement_timeout_ms >= 100)),
    CONSTRAINT platform_limits_singleton_check CHECK (singleton)
);

ALTER TABLE ONLY core.platform_limits FORCE ROW LEVEL SECURITY;


ALTER TABLE core.platform_limits OWNER TO postgres;

--
-- Name: platform_limits people read the platform's limits; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "people read the platform's limits" ON core.platform_limits FOR SELECT TO chainlake_users USING ((( SELECT core.caller_user_id() AS caller_user_id) IS NOT NULL));

--
-- Name: platform_limits platform_limits_applied; Type: TRIGGER; Schema: core; Owner: postgres
--

CREATE TRIGGER platform_limits_applied AFTER UPDATE ON core.platform_limits FOR EACH ROW EXECUTE FUNCTION core.platform_limits_changed();

--
-- Name: platform_limits platform_limits_pkey; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.platform_limits
    ADD CONSTRAINT platform_limits_pkey PRIMARY KEY (singleton);

--
-- Name: platform_limits the platform's definer functions; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON core.platform_limits TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: platform_limits_changed(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.platform_limits_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM core.apply_platform_limits();
    RETURN NULL;
END
$$;


ALTER FUNCTION core.platform_limits_changed() OWNER TO postgres;

--
-- Name: queues_problem(); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.queues_problem() RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    missing text;
BEGIN
    SELECT string_agg(q, ', ') INTO missing
    FROM unnest(ARRAY['run_tasks', 'alert_deliveries']) q
    WHERE NOT EXISTS (SELECT 1 FROM pgmq.meta m WHERE m.queue_name = q);
    IF missing IS NOT NULL THEN
        RETURN 'queue(s) missing: ' || missing || ' (run `chainlake migrate`)';
    END IF;
    PERFORM 1 FROM pgmq.q_run_tasks LIMIT 1;
    PERFORM 1 FROM pgmq.q_alert_deliveries LIMIT 1;
    RETURN NULL;
END
$$;


ALTER FUNCTION core.queues_problem() OWNER TO chainlake_definer;

--
-- Name: quota_limits_changed(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.quota_limits_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM core.apply_session_limits(m.user_id) FROM core.memberships m
    WHERE m.org_id = NEW.org_id;
    RETURN NULL;
END
$$;


ALTER FUNCTION core.quota_limits_changed() OWNER TO postgres;

--
-- Name: quotas; Type: ROW SECURITY; Schema: core; Owner: postgres
--

ALTER TABLE core.quotas ENABLE ROW LEVEL SECURITY;

--
-- Name: quotas; Type: TABLE; Schema: core; Owner: postgres
--

CREATE TABLE core.quotas (
    org_id uuid NOT NULL,
    max_concurrent_runs integer DEFAULT 8 NOT NULL,
    max_queued_tasks integer DEFAULT 100000 NOT NULL,
    api_requests_per_minute integer DEFAULT 600 NOT NULL,
    query_timeout_ms integer DEFAULT 30000 NOT NULL,
    query_memory_mb integer DEFAULT 1024 NOT NULL,
    storage_bytes bigint DEFAULT '107374182400'::bigint NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    sql_connections_per_user integer DEFAULT 10 NOT NULL,
    sql_statement_timeout_ms integer DEFAULT 60000 NOT NULL,
    sql_lock_timeout_ms integer DEFAULT 5000 NOT NULL,
    sql_idle_in_transaction_ms integer DEFAULT 60000 NOT NULL,
    sql_transaction_max_seconds integer DEFAULT 300 NOT NULL,
    sql_temp_file_mb integer DEFAULT 1024 NOT NULL,
    cpu_seconds_per_day double precision,
    CONSTRAINT quotas_cpu_seconds_per_day CHECK ((cpu_seconds_per_day > (0)::double precision)),
    CONSTRAINT quotas_sql_session_limits CHECK ((((sql_connections_per_user >= 1) AND (sql_connections_per_user <= 1000)) AND (sql_statement_timeout_ms >= 100) AND (sql_lock_timeout_ms >= 10) AND (sql_idle_in_transaction_ms >= 100) AND (sql_transaction_max_seconds >= 1))),
    CONSTRAINT quotas_sql_temp_file_mb CHECK (((sql_temp_file_mb >= 1) AND (sql_temp_file_mb <= 1048576)))
);

ALTER TABLE ONLY core.quotas FORCE ROW LEVEL SECURITY;


ALTER TABLE core.quotas OWNER TO postgres;

--
-- Name: quotas members read their orgs quotas; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "members read their orgs quotas" ON core.quotas FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: quotas quotas_audited; Type: TRIGGER; Schema: core; Owner: postgres
--

CREATE TRIGGER quotas_audited AFTER UPDATE ON core.quotas FOR EACH ROW EXECUTE FUNCTION core.audit_config_change('quota', 'org_id');

--
-- Name: quotas quotas_org_id_fkey; Type: FK CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.quotas
    ADD CONSTRAINT quotas_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: quotas quotas_pkey; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.quotas
    ADD CONSTRAINT quotas_pkey PRIMARY KEY (org_id);

--
-- Name: quotas quotas_session_limits; Type: TRIGGER; Schema: core; Owner: postgres
--

CREATE TRIGGER quotas_session_limits AFTER UPDATE OF sql_connections_per_user, sql_statement_timeout_ms, sql_lock_timeout_ms, sql_idle_in_transaction_ms, sql_transaction_max_seconds, sql_temp_file_mb ON core.quotas FOR EACH ROW EXECUTE FUNCTION core.quota_limits_changed();

--
-- Name: quotas the platform's definer functions; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON core.quotas TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: remove_member(text, text); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.remove_member(p_email text, p_org text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    DELETE FROM core.memberships m USING core.users u, core.orgs o
    WHERE u.email = lower(trim(p_email)) AND o.name = p_org
      AND m.user_id = u.id AND m.org_id = o.id
      AND (core.caller_is_operator() OR m.org_id = ANY (core.caller_org_ids('admin')));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no member "%" in org "%" that you may remove', p_email, p_org
            USING ERRCODE = '42704';
    END IF;
END
$$;


ALTER FUNCTION core.remove_member(p_email text, p_org text) OWNER TO chainlake_definer;

--
-- Name: rename_org(text, text); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.rename_org(p_org text, p_display_name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    UPDATE core.orgs SET display_name = p_display_name
    WHERE name = p_org AND (core.caller_is_operator() OR id = ANY (core.caller_org_ids('admin')));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no org "%" that you may rename', p_org USING ERRCODE = '42501',
            HINT = 'an admin of the org renames it';
    END IF;
END
$$;


ALTER FUNCTION core.rename_org(p_org text, p_display_name text) OWNER TO chainlake_definer;

--
-- Name: request_claims(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.request_claims() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    raw text;
    parsed jsonb;
BEGIN
    IF session_user::text NOT IN ('chainlake_api', 'chainlake_runner') THEN
        RETURN NULL;
    END IF;
    raw := current_setting('request.jwt.claims', true);
    IF raw IS NULL OR raw = '' THEN
        RETURN NULL;
    END IF;
    BEGIN
        parsed := raw::jsonb;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
    IF jsonb_typeof(parsed) <> 'object' THEN
        RETURN NULL;
    END IF;
    RETURN parsed;
END
$$;


ALTER FUNCTION core.request_claims() OWNER TO postgres;

--
-- Name: revoke_org_read(text, text); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.revoke_org_read(p_from text, p_to text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    DELETE FROM core.org_grants g USING core.orgs f, core.orgs t
    WHERE f.name = p_from AND t.name = p_to AND g.org_id = f.id AND g.grantee_org_id = t.id
      AND (core.caller_is_operator() OR g.org_id = ANY (core.caller_org_ids('admin')));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'org "%" grants no access to org "%" that you may revoke', p_from, p_to
            USING ERRCODE = '42704';
    END IF;
END
$$;


ALTER FUNCTION core.revoke_org_read(p_from text, p_to text) OWNER TO chainlake_definer;

--
-- Name: rewrap_encrypted(text, uuid, text, bytea, bytea); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.rewrap_encrypted(p_kind text, p_org_id uuid, p_name text, p_old bytea, p_new bytea) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    CASE p_kind
        WHEN 'job secret' THEN
            UPDATE jobs.secrets SET value_enc = p_new
            WHERE org_id = p_org_id AND name = p_name AND value_enc = p_old;
        WHEN 'webhook secret' THEN
            UPDATE jobs.webhook_secrets SET secret_enc = p_new
            WHERE org_id = p_org_id AND job_name = p_name AND secret_enc = p_old;
        WHEN 'channel secret' THEN
            UPDATE alerts.channels SET secret_enc = p_new
            WHERE org_id = p_org_id AND name = p_name AND secret_enc = p_old;
        ELSE
            RAISE EXCEPTION 'unknown kind of encrypted value "%"', p_kind USING ERRCODE = '22023';
    END CASE;
    RETURN FOUND;
END
$$;


ALTER FUNCTION core.rewrap_encrypted(p_kind text, p_org_id uuid, p_name text, p_old bytea, p_new bytea) OWNER TO postgres;

--
-- Name: row_locks; Type: ROW SECURITY; Schema: core; Owner: postgres
--

ALTER TABLE core.row_locks ENABLE ROW LEVEL SECURITY;

--
-- Name: row_locks; Type: TABLE; Schema: core; Owner: postgres
--

CREATE TABLE core.row_locks (
    purpose text NOT NULL,
    subject uuid NOT NULL
);

ALTER TABLE ONLY core.row_locks FORCE ROW LEVEL SECURITY;


ALTER TABLE core.row_locks OWNER TO postgres;

--
-- Name: row_locks nobody reads lock rows; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "nobody reads lock rows" ON core.row_locks FOR SELECT TO chainlake_users USING (false);

--
-- Name: row_locks row_locks_pkey; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.row_locks
    ADD CONSTRAINT row_locks_pkey PRIMARY KEY (purpose, subject);

--
-- Name: row_locks the platform's definer functions; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON core.row_locks TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: runner_org_id(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.runner_org_id() RETURNS uuid
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT core.try_uuid(c ->> 'org_id')
    FROM (SELECT core.request_claims() AS c) claims
    WHERE session_user = 'chainlake_runner' AND c ->> 'platform' = 'runner'
$$;


ALTER FUNCTION core.runner_org_id() OWNER TO postgres;

--
-- Name: session_bounds(name[]); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.session_bounds(p_roles name[]) RETURNS TABLE(db_role name, idle_in_transaction_ms integer, transaction_max_seconds integer)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT u.db_role, l.idle_in_transaction_ms, l.transaction_max_seconds
    FROM core.users u CROSS JOIN LATERAL core.session_limits(u.id) l
    WHERE u.db_role = ANY (p_roles)
$$;


ALTER FUNCTION core.session_bounds(p_roles name[]) OWNER TO chainlake_definer;

--
-- Name: session_limits(uuid); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.session_limits(p_user_id uuid) RETURNS TABLE(connections integer, statement_timeout_ms integer, lock_timeout_ms integer, idle_in_transaction_ms integer, transaction_max_seconds integer, temp_file_mb integer)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH mine AS (
        SELECT q.* FROM core.quotas q
        WHERE q.org_id IN (SELECT m.org_id FROM core.memberships m WHERE m.user_id = p_user_id)
    )
    SELECT max(sql_connections_per_user), max(sql_statement_timeout_ms),
           max(sql_lock_timeout_ms), max(sql_idle_in_transaction_ms),
           max(sql_transaction_max_seconds), max(sql_temp_file_mb)
    FROM mine HAVING count(*) > 0
    UNION ALL
    SELECT min(sql_connections_per_user), min(sql_statement_timeout_ms),
           min(sql_lock_timeout_ms), min(sql_idle_in_transaction_ms),
           min(sql_transaction_max_seconds), min(sql_temp_file_mb)
    FROM core.quotas WHERE NOT EXISTS (SELECT 1 FROM mine)
$$;


ALTER FUNCTION core.session_limits(p_user_id uuid) OWNER TO postgres;

--
-- Name: set_egress_addresses(text, text, text[], boolean); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.set_egress_addresses(p_rule text, p_note text, p_addresses text[], p_replace boolean DEFAULT true) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    item text;
    a record;
BEGIN
    IF NOT core.caller_is_operator() THEN
        RAISE EXCEPTION 'only the operator sets egress addresses' USING ERRCODE = '42501';
    END IF;
    IF p_replace THEN
        DELETE FROM core.egress_addresses WHERE rule = p_rule AND note = p_note;
    END IF;
    FOREACH item IN ARRAY coalesce(p_addresses, '{}') LOOP
        a := core.split_address(item);
        IF a.host IS NULL THEN
            RAISE EXCEPTION 'egress address "%" is not host:port (e.g. 127.0.0.1:8080, [::1]:25)', item
                USING ERRCODE = '22023';
        END IF;
        INSERT INTO core.egress_addresses (rule, host, port, note)
        VALUES (p_rule, a.host, a.port, p_note)
        ON CONFLICT (rule, host, port) DO UPDATE SET note = excluded.note;
    END LOOP;
    RETURN cardinality(coalesce(p_addresses, '{}'));
END
$$;


ALTER FUNCTION core.set_egress_addresses(p_rule text, p_note text, p_addresses text[], p_replace boolean) OWNER TO chainlake_definer;

--
-- Name: set_login_password(name, text, interval); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.set_login_password(p_role name, p_password text, p_valid_for interval DEFAULT NULL::interval) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF p_role NOT IN ('chainlake_api', 'chainlake_runner', 'chainlake_ingest', 'chainlake_alerts')
       AND NOT EXISTS (SELECT 1 FROM core.users WHERE db_role = p_role) THEN
        RAISE EXCEPTION 'role "%" is neither a platform role nor a user''s login role', p_role
            USING ERRCODE = '42704';
    END IF;
    IF p_valid_for IS NULL THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L VALID UNTIL ''infinity''', p_role, p_password);
    ELSE
        EXECUTE format('ALTER ROLE %I PASSWORD %L VALID UNTIL %L', p_role, p_password,
                       now() + p_valid_for);
    END IF;
END
$$;


ALTER FUNCTION core.set_login_password(p_role name, p_password text, p_valid_for interval) OWNER TO postgres;

--
-- Name: set_session_timeouts(name, integer, integer, integer); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.set_session_timeouts(p_role name, p_statement_ms integer, p_lock_ms integer, p_idle_ms integer) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', p_role, p_statement_ms || 'ms');
    EXECUTE format('ALTER ROLE %I SET lock_timeout = %L', p_role, p_lock_ms || 'ms');
    EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', p_role,
                   p_idle_ms || 'ms');
END
$$;


ALTER FUNCTION core.set_session_timeouts(p_role name, p_statement_ms integer, p_lock_ms integer, p_idle_ms integer) OWNER TO postgres;

--
-- Name: set_system_org(text); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.set_system_org(p_name text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    found_id uuid;
BEGIN
    IF NOT core.caller_is_operator() THEN
        RAISE EXCEPTION 'only the operator marks the system org' USING ERRCODE = '42501';
    END IF;
    UPDATE core.orgs SET system = true WHERE name = p_name RETURNING id INTO found_id;
    IF found_id IS NULL THEN
        RAISE EXCEPTION 'unknown org "%"', p_name USING ERRCODE = '42704';
    END IF;
    PERFORM audit.record(found_id, 'org.system', p_name);
    RETURN found_id;
END
$$;


ALTER FUNCTION core.set_system_org(p_name text) OWNER TO chainlake_definer;

--
-- Name: settle_function_owners(); Type: PROCEDURE; Schema: core; Owner: postgres
--

CREATE PROCEDURE core.settle_function_owners()
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    schemas constant text[] := ARRAY['core', 'catalog', 'jobs', 'runs', 'chain', 'alerts',
                                     'audit', 'pii'];
    evaluation constant text[] := ARRAY['alerts.match_rows', 'alerts.match_window',
                                        'alerts.match_simple', 'alerts.match_health'];
    -- ends overdue user sessions (sql/core/31_blocking.sql): pg_signal_backend, nothing else
    watchdog constant text[] := ARRAY['core.end_overdue_sessions'];
    fn record;
    tbl regclass;
    s text;
BEGIN
    FOR fn IN
        SELECT p.oid::regprocedure AS signature, p.proowner::regrole::text AS owner,
               CASE WHEN n.nspname || '.' || p.proname = ANY (evaluation)
                    THEN 'chainlake_evaluator'
                    WHEN n.nspname || '.' || p.proname = ANY (watchdog)
                    THEN 'chainlake_watchdog' ELSE 'chainlake_definer' END AS wanted
        FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE p.prosecdef AND n.nspname = ANY (schemas)
    LOOP
        IF fn.owner <> fn.wanted THEN
            EXECUTE format('ALTER ROUTINE %s OWNER TO %I', fn.signature, fn.wanted);
        END IF;
    END LOOP;
    FOR tbl IN
        SELECT c.oid::regclass FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relrowsecurity AND c.relkind IN ('r', 'p') AND n.nspname = ANY (schemas)
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
                          WHERE p.polrelid = c.oid
                            AND p.polname = 'the platform''s definer functions')
    LOOP
        CALL core.admit_definer(tbl);
    END LOOP;
    FOREACH s IN ARRAY schemas || 'pgmq'::text LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO chainlake_definer', s);
        EXECUTE format('GRANT EXECUTE ON ALL ROUTINES IN SCHEMA %I TO chainlake_definer', s);
        EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO chainlake_definer', s);
    END LOOP;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pgmq TO chainlake_definer;
END
$$;


ALTER PROCEDURE core.settle_function_owners() OWNER TO postgres;

--
-- Name: sign_ins; Type: ROW SECURITY; Schema: core; Owner: postgres
--

ALTER TABLE core.sign_ins ENABLE ROW LEVEL SECURITY;

--
-- Name: sign_ins; Type: TABLE; Schema: core; Owner: postgres
--

CREATE TABLE core.sign_ins (
    token_sha256 bytea NOT NULL,
    user_id uuid NOT NULL,
    issuer text NOT NULL,
    signed_in_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    CONSTRAINT sign_ins_token_length CHECK ((length(token_sha256) = 32))
);

ALTER TABLE ONLY core.sign_ins FORCE ROW LEVEL SECURITY;


ALTER TABLE core.sign_ins OWNER TO postgres;

--
-- Name: sign_ins people read their own sign-ins; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "people read their own sign-ins" ON core.sign_ins FOR SELECT TO chainlake_users USING ((user_id = ( SELECT core.caller_user_id() AS caller_user_id)));

--
-- Name: sign_ins sign_ins_pkey; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.sign_ins
    ADD CONSTRAINT sign_ins_pkey PRIMARY KEY (token_sha256);

--
-- Name: sign_ins sign_ins_user_id_fkey; Type: FK CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.sign_ins
    ADD CONSTRAINT sign_ins_user_id_fkey FOREIGN KEY (user_id) REFERENCES core.users(id) ON DELETE CASCADE;

--
-- Name: sign_ins the platform's definer functions; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON core.sign_ins TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: sign_ins_user_idx; Type: INDEX; Schema: core; Owner: postgres
--

CREATE INDEX sign_ins_user_idx ON core.sign_ins USING btree (user_id, expires_at);

--
-- Name: split_address(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.split_address(p_address text, OUT host text, OUT port integer) RETURNS record
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    m text[] := coalesce(regexp_match(p_address, '^\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})$'),
                         regexp_match(p_address, '^([A-Za-z0-9.-]+):([0-9]{1,5})$'));
BEGIN
    IF m IS NOT NULL THEN
        host := core.normal_host(m[1]);
        port := m[2]::integer;
    END IF;
END
$_$;


ALTER FUNCTION core.split_address(p_address text, OUT host text, OUT port integer) OWNER TO postgres;

--
-- Name: split_url(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.split_url(p_url text, OUT scheme text, OUT host text, OUT port integer, OUT problem text) RETURNS record
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    m text[] := regexp_match(coalesce(p_url, ''), '^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)');
    authority text;
    hp text[];
BEGIN
    scheme := lower(m[1]);
    authority := m[2];
    IF m IS NULL OR scheme NOT IN ('http', 'https') THEN
        problem := 'not an http:// or https:// URL';
    ELSIF authority LIKE '%@%' THEN
        problem := 'a URL here may not hold a user name or password (before "@")';
    ELSE
        hp := coalesce(regexp_match(authority, '^\[([^]]*)\](?::([0-9]*))?$'),
                       regexp_match(authority, '^([^:]*)(?::([0-9]*))?$'));
        IF hp IS NULL OR hp[1] = '' THEN
            problem := 'no host in the URL';
        ELSIF hp[2] IS NOT NULL AND hp[2] !~ '^[0-9]{1,5}$' THEN
            problem := format('port "%s" is not a port (1 to 65535)', hp[2]);
        ELSE
            host := core.normal_host(hp[1]);
            port := coalesce(hp[2]::integer, CASE scheme WHEN 'https' THEN 443 ELSE 80 END);
        END IF;
    END IF;
END
$_$;


ALTER FUNCTION core.split_url(p_url text, OUT scheme text, OUT host text, OUT port integer, OUT problem text) OWNER TO postgres;

--
-- Name: stamp_actor(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.stamp_actor() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    col constant text := TG_ARGV[0];
    caller uuid := core.caller_user_id();
    kept jsonb;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        kept := jsonb_build_object(col, to_jsonb(OLD) -> col);
    ELSIF caller IS NOT NULL THEN
        kept := jsonb_build_object(col, caller);
    ELSE
        RETURN NEW;
    END IF;
    NEW := jsonb_populate_record(NEW, kept);
    RETURN NEW;
END
$$;


ALTER FUNCTION core.stamp_actor() OWNER TO postgres;

--
-- Name: token_org_roles(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.token_org_roles() RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT CASE WHEN jsonb_typeof(c -> 'org_roles') = 'object' THEN c -> 'org_roles'
                WHEN c ? 'org_roles' THEN '{}'::jsonb END
    FROM (SELECT core.request_claims() AS c) claims
    WHERE session_user = 'chainlake_api'
$$;


ALTER FUNCTION core.token_org_roles() OWNER TO postgres;

--
-- Name: try_int(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.try_int(value text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
    SELECT CASE WHEN value ~ '^[0-9]{1,9}$' THEN value::integer END
$_$;


ALTER FUNCTION core.try_int(value text) OWNER TO postgres;

--
-- Name: try_uuid(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.try_uuid(value text) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
    SELECT CASE
        WHEN value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
        THEN value::uuid
    END
$_$;


ALTER FUNCTION core.try_uuid(value text) OWNER TO postgres;

--
-- Name: user_by_email(text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.user_by_email(p_email text) RETURNS core.users
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    match core.users;
BEGIN
    SELECT * INTO match FROM core.users WHERE email = lower(trim(p_email));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown user "%"', p_email USING ERRCODE = '42704',
            HINT = 'list users with `chainlake user list`';
    END IF;
    RETURN match;
END
$$;


ALTER FUNCTION core.user_by_email(p_email text) OWNER TO postgres;

--
-- Name: user_for_email(text); Type: FUNCTION; Schema: core; Owner: chainlake_definer
--

CREATE FUNCTION core.user_for_email(p_email text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT id FROM core.users WHERE email = lower(p_email) AND disabled_at IS NULL
$$;


ALTER FUNCTION core.user_for_email(p_email text) OWNER TO chainlake_definer;

--
-- Name: users; Type: ROW SECURITY; Schema: core; Owner: postgres
--

ALTER TABLE core.users ENABLE ROW LEVEL SECURITY;

--
-- Name: users; Type: TABLE; Schema: core; Owner: postgres
--

CREATE TABLE core.users (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email text NOT NULL,
    db_role name NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    disabled_at timestamp with time zone,
    CONSTRAINT users_email_format CHECK ((email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'::text)),
    CONSTRAINT users_email_lowercase CHECK ((email = lower(email)))
);

ALTER TABLE ONLY core.users FORCE ROW LEVEL SECURITY;


ALTER TABLE core.users OWNER TO postgres;

--
-- Name: users people see themselves and members of their orgs; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "people see themselves and members of their orgs" ON core.users FOR SELECT TO chainlake_users USING (((id = ( SELECT core.caller_user_id() AS caller_user_id)) OR (id IN ( SELECT m.user_id
   FROM core.memberships m
  WHERE (m.org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[]))))));

--
-- Name: users the platform's definer functions; Type: POLICY; Schema: core; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON core.users TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: users users_db_role_key; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.users
    ADD CONSTRAINT users_db_role_key UNIQUE (db_role);

--
-- Name: users users_email_key; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.users
    ADD CONSTRAINT users_email_key UNIQUE (email);

--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: core; Owner: postgres
--

ALTER TABLE ONLY core.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

--
-- Name: whoami(); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.whoami() RETURNS TABLE(user_id uuid, email text, org text, role core.member_role)
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    caller uuid := core.caller_user_id();
    scope jsonb := core.token_org_roles();
BEGIN
    RETURN QUERY
    WITH acting AS (
        SELECT m.org_id, core.narrow_role(m.role, scope, m.org_id) AS role
        FROM core.memberships m
        WHERE m.user_id = caller
    )
    SELECT u.id, u.email, o.name, a.role
    FROM core.users u
    LEFT JOIN acting a ON a.role IS NOT NULL
    LEFT JOIN core.orgs o ON o.id = a.org_id
    WHERE u.id = caller
    ORDER BY o.name;
END
$$;


ALTER FUNCTION core.whoami() OWNER TO postgres;

--
-- Name: writable_org(text, text); Type: FUNCTION; Schema: core; Owner: postgres
--

CREATE FUNCTION core.writable_org(p_org text, p_what text) RETURNS uuid
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    org uuid := core.member_org(p_org);
BEGIN
    IF NOT org = ANY (core.caller_org_ids('write')) THEN
        RAISE EXCEPTION 'only writers and admins of org "%" %', p_org, p_what
            USING ERRCODE = '42501';
    END IF;
    RETURN org;
END
$$;


ALTER FUNCTION core.writable_org(p_org text, p_what text) OWNER TO postgres;

--
-- Name: COLUMN definitions.applied_at; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(applied_at) ON TABLE jobs.definitions TO chainlake_users;

--
-- Name: COLUMN definitions.created_at; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(created_at) ON TABLE jobs.definitions TO chainlake_users;

--
-- Name: COLUMN definitions.created_by; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(created_by) ON TABLE jobs.definitions TO chainlake_users;

--
-- Name: COLUMN definitions.id; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(id) ON TABLE jobs.definitions TO chainlake_users;

--
-- Name: COLUMN definitions.input_datasets; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(input_datasets) ON TABLE jobs.definitions TO chainlake_users;

--
-- Name: COLUMN definitions.kind; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(kind) ON TABLE jobs.definitions TO chainlake_users;

--
-- Name: COLUMN definitions.name; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(name) ON TABLE jobs.definitions TO chainlake_users;

--
-- Name: COLUMN definitions.org_id; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(org_id) ON TABLE jobs.definitions TO chainlake_users;

--
-- Name: COLUMN definitions.output_datasets; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(output_datasets) ON TABLE jobs.definitions TO chainlake_users;

--
-- Name: COLUMN definitions.spec; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(spec) ON TABLE jobs.definitions TO chainlake_users;

--
-- Name: COLUMN definitions.version; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(version) ON TABLE jobs.definitions TO chainlake_users;

--
-- Name: COLUMN schedules.cron; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(cron) ON TABLE jobs.schedules TO chainlake_users;

--
-- Name: COLUMN schedules.job_name; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(job_name) ON TABLE jobs.schedules TO chainlake_users;

--
-- Name: COLUMN schedules.last_error; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(last_error) ON TABLE jobs.schedules TO chainlake_users;

--
-- Name: COLUMN schedules.last_fired_at; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(last_fired_at) ON TABLE jobs.schedules TO chainlake_users;

--
-- Name: COLUMN schedules.next_fire_at; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(next_fire_at) ON TABLE jobs.schedules TO chainlake_users;

--
-- Name: COLUMN schedules.org_id; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(org_id) ON TABLE jobs.schedules TO chainlake_users;

--
-- Name: COLUMN secrets.created_by; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT SELECT(created_by),UPDATE(created_by) ON TABLE jobs.secrets TO chainlake_users;

--
-- Name: COLUMN secrets.name; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT SELECT(name),UPDATE(name) ON TABLE jobs.secrets TO chainlake_users;

--
-- Name: COLUMN secrets.org_id; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT SELECT(org_id),UPDATE(org_id) ON TABLE jobs.secrets TO chainlake_users;

--
-- Name: COLUMN secrets.updated_at; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT SELECT(updated_at),UPDATE(updated_at) ON TABLE jobs.secrets TO chainlake_users;

--
-- Name: COLUMN secrets.value_enc; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT UPDATE(value_enc) ON TABLE jobs.secrets TO chainlake_users;

--
-- Name: COLUMN webhook_secrets.created_at; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT SELECT(created_at) ON TABLE jobs.webhook_secrets TO chainlake_users;

--
-- Name: COLUMN webhook_secrets.created_by; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT SELECT(created_by) ON TABLE jobs.webhook_secrets TO chainlake_users;

--
-- Name: COLUMN webhook_secrets.job_name; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT SELECT(job_name) ON TABLE jobs.webhook_secrets TO chainlake_users;

--
-- Name: COLUMN webhook_secrets.org_id; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT SELECT(org_id) ON TABLE jobs.webhook_secrets TO chainlake_users;

--
-- Name: FUNCTION apply_definition(p_org_id uuid, p_spec jsonb, p_next_fire_at timestamp with time zone); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.apply_definition(p_org_id uuid, p_spec jsonb, p_next_fire_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.apply_definition(p_org_id uuid, p_spec jsonb, p_next_fire_at timestamp with time zone) TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.apply_definition(p_org_id uuid, p_spec jsonb, p_next_fire_at timestamp with time zone) TO chainlake_users;

--
-- Name: FUNCTION check_cron(p_schedule text); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.check_cron(p_schedule text) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.check_cron(p_schedule text) TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.check_cron(p_schedule text) TO chainlake_users;

--
-- Name: FUNCTION check_definition_egress(); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.check_definition_egress() FROM PUBLIC;

--
-- Name: FUNCTION check_definition_values(); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.check_definition_values() FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.check_definition_values() TO chainlake_definer;

--
-- Name: FUNCTION check_schedule_row(); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.check_schedule_row() FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.check_schedule_row() TO chainlake_definer;

--
-- Name: FUNCTION cron_field_problem(p_value text, p_field integer); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.cron_field_problem(p_value text, p_field integer) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.cron_field_problem(p_value text, p_field integer) TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.cron_field_problem(p_value text, p_field integer) TO chainlake_users;

--
-- Name: FUNCTION cron_value(p_token text, p_field integer); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.cron_value(p_token text, p_field integer) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.cron_value(p_token text, p_field integer) TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.cron_value(p_token text, p_field integer) TO chainlake_users;

--
-- Name: FUNCTION current_definition(p_org_id uuid, p_name text); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.current_definition(p_org_id uuid, p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.current_definition(p_org_id uuid, p_name text) TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.current_definition(p_org_id uuid, p_name text) TO chainlake_users;

--
-- Name: FUNCTION current_definitions(p_org_id uuid); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.current_definitions(p_org_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.current_definitions(p_org_id uuid) TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.current_definitions(p_org_id uuid) TO chainlake_users;

--
-- Name: FUNCTION current_definitions_visible(); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.current_definitions_visible() FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.current_definitions_visible() TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.current_definitions_visible() TO chainlake_users;

--
-- Name: FUNCTION definition_value_problem(p_spec jsonb); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.definition_value_problem(p_spec jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.definition_value_problem(p_spec jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.definition_value_problem(p_spec jsonb) TO chainlake_users;

--
-- Name: FUNCTION delete_secret(p_org text, p_name text); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.delete_secret(p_org text, p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.delete_secret(p_org text, p_name text) TO chainlake_users;

--
-- Name: FUNCTION derive_definition(); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.derive_definition() FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.derive_definition() TO chainlake_definer;

--
-- Name: FUNCTION due_schedules(p_now timestamp with time zone, p_limit integer); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.due_schedules(p_now timestamp with time zone, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.due_schedules(p_now timestamp with time zone, p_limit integer) TO chainlake_runner;

--
-- Name: FUNCTION list(p_org text); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.list(p_org text) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.list(p_org text) TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.list(p_org text) TO chainlake_users;

--
-- Name: FUNCTION output_path_template_problem(p_template text); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.output_path_template_problem(p_template text) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.output_path_template_problem(p_template text) TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.output_path_template_problem(p_template text) TO chainlake_users;

--
-- Name: FUNCTION producer(p_org_id uuid, p_dataset text); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.producer(p_org_id uuid, p_dataset text) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.producer(p_org_id uuid, p_dataset text) TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.producer(p_org_id uuid, p_dataset text) TO chainlake_users;

--
-- Name: FUNCTION receive_webhook(p_org_id uuid, p_job text, p_payload jsonb, p_delivery text); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.receive_webhook(p_org_id uuid, p_job text, p_payload jsonb, p_delivery text) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.receive_webhook(p_org_id uuid, p_job text, p_payload jsonb, p_delivery text) TO chainlake_api;

--
-- Name: FUNCTION schedule_failed(p_org_id uuid, p_job text, p_error text); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.schedule_failed(p_org_id uuid, p_job text, p_error text) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.schedule_failed(p_org_id uuid, p_job text, p_error text) TO chainlake_runner;

--
-- Name: FUNCTION schedule_fired(p_org_id uuid, p_job text, p_tick timestamp with time zone, p_next timestamp with time zone); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.schedule_fired(p_org_id uuid, p_job text, p_tick timestamp with time zone, p_next timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.schedule_fired(p_org_id uuid, p_job text, p_tick timestamp with time zone, p_next timestamp with time zone) TO chainlake_runner;

--
-- Name: FUNCTION secret_values(p_names text[]); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.secret_values(p_names text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.secret_values(p_names text[]) TO chainlake_runner;

--
-- Name: FUNCTION set_secret(p_org text, p_name text, p_value_enc bytea); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.set_secret(p_org text, p_name text, p_value_enc bytea) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.set_secret(p_org text, p_name text, p_value_enc bytea) TO chainlake_users;

--
-- Name: FUNCTION set_webhook_secret(p_org_id uuid, p_job text, p_secret_enc bytea); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.set_webhook_secret(p_org_id uuid, p_job text, p_secret_enc bytea) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.set_webhook_secret(p_org_id uuid, p_job text, p_secret_enc bytea) TO chainlake_users;

--
-- Name: FUNCTION show(p_org text, p_name text); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.show(p_org text, p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.show(p_org text, p_name text) TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.show(p_org text, p_name text) TO chainlake_users;

--
-- Name: FUNCTION supervise_always_on(p_now timestamp with time zone); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.supervise_always_on(p_now timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.supervise_always_on(p_now timestamp with time zone) TO chainlake_runner;

--
-- Name: FUNCTION unschedule(p_org_id uuid, p_job text); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.unschedule(p_org_id uuid, p_job text) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.unschedule(p_org_id uuid, p_job text) TO chainlake_users;

--
-- Name: FUNCTION value_rules(); Type: ACL; Schema: jobs; Owner: postgres
--

REVOKE ALL ON FUNCTION jobs.value_rules() FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.value_rules() TO chainlake_definer;
GRANT ALL ON FUNCTION jobs.value_rules() TO chainlake_users;

--
-- Name: FUNCTION webhook_secret(p_org_id uuid, p_job text); Type: ACL; Schema: jobs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION jobs.webhook_secret(p_org_id uuid, p_job text) FROM PUBLIC;
GRANT ALL ON FUNCTION jobs.webhook_secret(p_org_id uuid, p_job text) TO chainlake_api;

--
-- Name: TABLE definitions; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT SELECT,INSERT ON TABLE jobs.definitions TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE jobs.definitions TO chainlake_definer;

--
-- Name: TABLE schedules; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT SELECT,INSERT ON TABLE jobs.schedules TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE jobs.schedules TO chainlake_definer;

--
-- Name: TABLE secrets; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT INSERT ON TABLE jobs.secrets TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE jobs.secrets TO chainlake_definer;

--
-- Name: TABLE webhook_secrets; Type: ACL; Schema: jobs; Owner: postgres
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE jobs.webhook_secrets TO chainlake_definer;

--
-- Name: apply_definition(uuid, jsonb, timestamp with time zone); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.apply_definition(p_org_id uuid, p_spec jsonb, p_next_fire_at timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS jobs.definitions
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    existing jobs.definitions;
    applied jobs.definitions;
BEGIN
    IF p_spec -> 'secrets' ?| ARRAY['chain_writer', 'alert_sender']
       AND NOT coalesce((SELECT system FROM core.orgs WHERE id = p_org_id), false) THEN
        RAISE EXCEPTION 'secrets: chain_writer and alert_sender are platform credentials of the system org''s jobs'
            USING ERRCODE = '42501',
            HINT = 'chain data and alert deliveries are written by the platform''s own jobs; read chain data with input_datasets: [chain.logs, ...]';
    END IF;
    SELECT * INTO existing FROM jobs.definitions
    WHERE org_id = p_org_id AND name = p_spec ->> 'name' AND version = p_spec ->> 'version';
    IF FOUND AND existing.spec <> p_spec THEN
        RAISE EXCEPTION 'job "%" version "%" exists with a different definition',
            p_spec ->> 'name', p_spec ->> 'version' USING ERRCODE = '23505',
            HINT = 'a version names one exact definition: give the change a new version';
    ELSIF FOUND THEN
        UPDATE jobs.definitions SET spec = p_spec WHERE org_id = p_org_id AND id = existing.id
        RETURNING * INTO applied;
    ELSE
        INSERT INTO jobs.definitions (org_id, name, version, spec)
        VALUES (p_org_id, p_spec ->> 'name', p_spec ->> 'version', p_spec)
        RETURNING * INTO applied;
    END IF;
    IF p_spec ->> 'activation' = 'cron' THEN
        INSERT INTO jobs.schedules (org_id, job_name, cron, next_fire_at)
        VALUES (p_org_id, applied.name, p_spec ->> 'schedule', p_next_fire_at)
        ON CONFLICT (org_id, job_name) DO UPDATE
            SET cron = excluded.cron, next_fire_at = excluded.next_fire_at, last_error = NULL;
    ELSE
        PERFORM jobs.unschedule(p_org_id, applied.name);
    END IF;
    RETURN applied;
END
$$;


ALTER FUNCTION jobs.apply_definition(p_org_id uuid, p_spec jsonb, p_next_fire_at timestamp with time zone) OWNER TO postgres;

--
-- Name: check_cron(text); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.check_cron(p_schedule text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    fields constant text[] := regexp_split_to_array(btrim(coalesce(p_schedule, '')), '\s+');
    problem text;
BEGIN
    IF lower(btrim(p_schedule)) IN ('@hourly', '@daily', '@midnight', '@weekly', '@monthly',
                                    '@yearly', '@annually') THEN
        RETURN;
    END IF;
    IF cardinality(fields) <> 5 THEN
        problem := format('it has %s fields, not five (minute hour day-of-month month day-of-week)',
                          CASE WHEN fields = '{""}' THEN 0 ELSE cardinality(fields) END);
    ELSE
        FOR field IN 1..5 LOOP
            problem := jobs.cron_field_problem(fields[field], field);
            EXIT WHEN problem IS NOT NULL;
        END LOOP;
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'schedule "%" is not a cron expression: %', coalesce(p_schedule, ''), problem
            USING ERRCODE = '22023',
            HINT = 'five fields, e.g. "*/5 * * * *" (every five minutes) or "0 3 * * mon" (Mondays at 03:00 UTC)';
    END IF;
END
$$;


ALTER FUNCTION jobs.check_cron(p_schedule text) OWNER TO postgres;

--
-- Name: check_definition_egress(); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.check_definition_egress() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    network jsonb := coalesce(NEW.spec -> 'network', '[]');
    item record;
    a record;
    why text;
BEGIN
    IF jsonb_typeof(network) <> 'array' THEN
        RAISE EXCEPTION 'job "%": network must be a list of "host:port"', NEW.spec ->> 'name'
            USING ERRCODE = '22023';
    END IF;
    FOR item IN SELECT e.value, e.ordinality - 1 AS n
                FROM jsonb_array_elements(network) WITH ORDINALITY e LOOP
        IF item.value = '"*"' THEN
            IF NOT coalesce((SELECT o.system FROM core.orgs o WHERE o.id = NEW.org_id), false) THEN
                RAISE EXCEPTION 'job "%": network[%]: "*" (any destination) is for the platform''s own jobs', NEW.spec ->> 'name', item.n
                    USING ERRCODE = '22023', HINT = 'name each destination as host:port, e.g. api.example.com:443';
            END IF;
            CONTINUE;
        END IF;
        a := core.split_address(item.value #>> '{}');
        why := CASE WHEN jsonb_typeof(item.value) <> 'string' OR a.host IS NULL
                    THEN format('%s is not host:port (e.g. api.example.com:443, [2001:db8::1]:443)', item.value)
                    ELSE core.egress_refusal(a.host, a.port) END;
        IF why IS NOT NULL THEN
            RAISE EXCEPTION 'job "%": network[%]: refused: %', NEW.spec ->> 'name', item.n, why
                USING ERRCODE = '22023',
                HINT = 'a job reaches public addresses only, never the platform''s own services; the operator may allow an exact host:port (docs/job-contract.md)';
        END IF;
    END LOOP;
    IF NEW.spec #>> '{launcher,kind}' = 'service' THEN
        why := core.egress_url_refusal(NEW.spec #>> '{launcher,endpoint}');
        IF why IS NOT NULL THEN
            RAISE EXCEPTION 'job "%": launcher.endpoint: refused: %', NEW.spec ->> 'name', why
                USING ERRCODE = '22023',
                HINT = 'a service job''s endpoint is a public address, never the platform''s own services; the operator may allow an exact host:port (docs/job-contract.md)';
        END IF;
    END IF;
    RETURN NEW;
END
$$;


ALTER FUNCTION jobs.check_definition_egress() OWNER TO chainlake_definer;

--
-- Name: check_definition_values(); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.check_definition_values() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    problem text := coalesce(
        jobs.definition_value_problem(jsonb_build_object('name', NEW.name, 'version', NEW.version)),
        jobs.definition_value_problem(NEW.spec),
        jobs.output_path_template_problem(NEW.spec ->> 'output_path_template'));
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid job definition: %', problem USING ERRCODE = '22023',
            HINT = 'these values become paths and command-line arguments on the runner: see "What values may hold" in docs/job-contract.md';
    END IF;
    RETURN NEW;
END
$$;


ALTER FUNCTION jobs.check_definition_values() OWNER TO postgres;

--
-- Name: check_schedule_row(); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.check_schedule_row() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM jobs.check_cron(NEW.cron);
    RETURN NEW;
END
$$;


ALTER FUNCTION jobs.check_schedule_row() OWNER TO postgres;

--
-- Name: cron_field_problem(text, integer); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.cron_field_problem(p_value text, p_field integer) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    name constant text := (ARRAY['minute', 'hour', 'day of month', 'month', 'day of week'])[p_field];
    low constant integer := (ARRAY[0, 0, 1, 1, 0])[p_field];
    high constant integer := (ARRAY[59, 23, 31, 12, 7])[p_field];
    item text;
    parts text[];
    bounds integer[];
BEGIN
    FOREACH item IN ARRAY string_to_array(lower(p_value), ',') LOOP
        parts := regexp_match(item, '^(?:\*|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/([0-9]{1,2}))?$');
        IF parts IS NULL THEN
            RETURN format('%s "%s": use *, a number, a range a-b, a step /n, or a list of those',
                          name, item);
        END IF;
        bounds := ARRAY[jobs.cron_value(parts[1], p_field), jobs.cron_value(parts[2], p_field)];
        IF (parts[1] IS NOT NULL AND bounds[1] IS NULL) OR (parts[2] IS NOT NULL AND bounds[2] IS NULL) THEN
            RETURN format('%s "%s" is not a number%s', name, item,
                          CASE WHEN p_field IN (4, 5) THEN ' or a name (jan, mon)' ELSE '' END);
        END IF;
        IF bounds[1] NOT BETWEEN low AND high OR bounds[2] NOT BETWEEN low AND high THEN
            RETURN format('%s "%s" is outside %s-%s', name, item, low, high);
        END IF;
        IF bounds[2] < bounds[1] THEN
            RETURN format('%s range "%s" runs backwards', name, item);
        END IF;
        IF parts[3]::integer NOT BETWEEN 1 AND high THEN
            RETURN format('%s step "%s" is outside 1-%s', name, item, high);
        END IF;
    END LOOP;
    RETURN NULL;
END
$_$;


ALTER FUNCTION jobs.cron_field_problem(p_value text, p_field integer) OWNER TO postgres;

--
-- Name: cron_value(text, integer); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.cron_value(p_token text, p_field integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
    SELECT CASE
        WHEN p_token ~ '^[0-9]{1,2}$' THEN p_token::integer
        WHEN p_field = 4 THEN array_position(
            ARRAY['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
            p_token)
        WHEN p_field = 5 THEN array_position(
            ARRAY['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], p_token) - 1
    END
$_$;


ALTER FUNCTION jobs.cron_value(p_token text, p_field integer) OWNER TO postgres;

--
-- Name: current_definition(uuid, text); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.current_definition(p_org_id uuid, p_name text) RETURNS jobs.definitions
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT * FROM jobs.definitions
    WHERE org_id = p_org_id AND name = p_name
    ORDER BY applied_at DESC LIMIT 1
$$;


ALTER FUNCTION jobs.current_definition(p_org_id uuid, p_name text) OWNER TO postgres;

--
-- Name: current_definitions(uuid); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.current_definitions(p_org_id uuid) RETURNS SETOF jobs.definitions
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT DISTINCT ON (name) * FROM jobs.definitions
    WHERE org_id = p_org_id ORDER BY name, applied_at DESC
$$;


ALTER FUNCTION jobs.current_definitions(p_org_id uuid) OWNER TO postgres;

--
-- Name: current_definitions_visible(); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.current_definitions_visible() RETURNS SETOF jobs.definitions
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT DISTINCT ON (org_id, name) * FROM jobs.definitions ORDER BY org_id, name, applied_at DESC
$$;


ALTER FUNCTION jobs.current_definitions_visible() OWNER TO postgres;

--
-- Name: definition_value_problem(jsonb); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.definition_value_problem(p_spec jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT format('%s %s (got %s)', r.field, r.rule, v::text)
    FROM jobs.value_rules() r, jsonb_path_query(p_spec, r.path) v
    WHERE jsonb_typeof(v) <> 'string'
       OR (v #>> '{}') !~ r.pattern
       OR length(v #>> '{}') > coalesce(r.max_length, length(v #>> '{}'))
    LIMIT 1
$$;


ALTER FUNCTION jobs.definition_value_problem(p_spec jsonb) OWNER TO postgres;

--
-- Name: definitions; Type: ROW SECURITY; Schema: jobs; Owner: postgres
--

ALTER TABLE jobs.definitions ENABLE ROW LEVEL SECURITY;

--
-- Name: definitions; Type: TABLE; Schema: jobs; Owner: postgres
--

CREATE TABLE jobs.definitions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    spec jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    kind text DEFAULT 'source'::text NOT NULL,
    input_datasets text[] DEFAULT '{}'::text[] NOT NULL,
    output_datasets text[] DEFAULT '{}'::text[] NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT definitions_kind CHECK ((kind = ANY (ARRAY['source'::text, 'reactive'::text])))
);

ALTER TABLE ONLY jobs.definitions FORCE ROW LEVEL SECURITY;


ALTER TABLE jobs.definitions OWNER TO postgres;

--
-- Name: definitions definitions_audited; Type: TRIGGER; Schema: jobs; Owner: postgres
--

CREATE TRIGGER definitions_audited AFTER INSERT OR DELETE OR UPDATE ON jobs.definitions FOR EACH ROW EXECUTE FUNCTION core.audit_config_change('job.definition', 'name');

--
-- Name: definitions definitions_created_by_fkey; Type: FK CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.definitions
    ADD CONSTRAINT definitions_created_by_fkey FOREIGN KEY (created_by) REFERENCES core.users(id) ON DELETE SET NULL;

--
-- Name: definitions definitions_derive; Type: TRIGGER; Schema: jobs; Owner: postgres
--

CREATE TRIGGER definitions_derive BEFORE INSERT OR UPDATE ON jobs.definitions FOR EACH ROW EXECUTE FUNCTION jobs.derive_definition();

--
-- Name: definitions definitions_egress_checked; Type: TRIGGER; Schema: jobs; Owner: postgres
--

CREATE TRIGGER definitions_egress_checked BEFORE INSERT OR UPDATE ON jobs.definitions FOR EACH ROW EXECUTE FUNCTION jobs.check_definition_egress();

--
-- Name: definitions definitions_name_version_key; Type: CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.definitions
    ADD CONSTRAINT definitions_name_version_key UNIQUE (org_id, name, version);

--
-- Name: definitions definitions_org_id_fkey; Type: FK CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.definitions
    ADD CONSTRAINT definitions_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: definitions definitions_pkey; Type: CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.definitions
    ADD CONSTRAINT definitions_pkey PRIMARY KEY (org_id, id);

--
-- Name: definitions definitions_stamp_creator; Type: TRIGGER; Schema: jobs; Owner: postgres
--

CREATE TRIGGER definitions_stamp_creator BEFORE INSERT OR UPDATE ON jobs.definitions FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');

--
-- Name: definitions definitions_values_checked; Type: TRIGGER; Schema: jobs; Owner: postgres
--

CREATE TRIGGER definitions_values_checked BEFORE INSERT OR UPDATE ON jobs.definitions FOR EACH ROW EXECUTE FUNCTION jobs.check_definition_values();

--
-- Name: definitions members read their orgs rows; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON jobs.definitions FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: definitions the platform's definer functions; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON jobs.definitions TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: definitions writers add rows to their orgs; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "writers add rows to their orgs" ON jobs.definitions FOR INSERT TO chainlake_users WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: definitions writers change their orgs rows; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "writers change their orgs rows" ON jobs.definitions FOR UPDATE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: definitions writers delete their orgs rows; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "writers delete their orgs rows" ON jobs.definitions FOR DELETE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: definitions_current_idx; Type: INDEX; Schema: jobs; Owner: postgres
--

CREATE INDEX definitions_current_idx ON jobs.definitions USING btree (org_id, name, applied_at DESC);

--
-- Name: definitions_inputs_idx; Type: INDEX; Schema: jobs; Owner: postgres
--

CREATE INDEX definitions_inputs_idx ON jobs.definitions USING gin (input_datasets);

--
-- Name: delete_secret(text, text); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.delete_secret(p_org text, p_name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    DELETE FROM jobs.secrets WHERE org_id = core.member_org(p_org) AND name = p_name
      AND org_id = ANY (core.caller_org_ids('write'));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no secret "%" in org "%" that you may delete', p_name, p_org
            USING ERRCODE = '42704';
    END IF;
END
$$;


ALTER FUNCTION jobs.delete_secret(p_org text, p_name text) OWNER TO chainlake_definer;

--
-- Name: derive_definition(); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.derive_definition() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    NEW.kind := coalesce(NEW.spec ->> 'kind', 'source');
    IF NEW.kind NOT IN ('source', 'reactive') THEN
        RAISE EXCEPTION 'job "%": kind must be source or reactive, not "%"', NEW.name, NEW.kind
            USING ERRCODE = '22023';
    END IF;
    NEW.input_datasets := ARRAY(SELECT jsonb_array_elements_text(
        coalesce(NEW.spec -> 'input_datasets', '[]')));
    NEW.output_datasets := ARRAY(SELECT jsonb_array_elements_text(
        coalesce(NEW.spec -> 'output_datasets', '[]')));
    IF NEW.kind = 'reactive' AND cardinality(NEW.input_datasets) = 0 THEN
        RAISE EXCEPTION 'job "%": a reactive job needs input_datasets', NEW.name
            USING ERRCODE = '22023';
    END IF;
    IF NEW.spec ->> 'activation' = 'cron' THEN
        PERFORM jobs.check_cron(NEW.spec ->> 'schedule');
    END IF;
    IF NEW.kind = 'reactive' AND jsonb_array_length(coalesce(NEW.spec -> 'network', '[]')) > 0 THEN
        RAISE EXCEPTION 'job "%": only source jobs may reach the network (external data enters at DAG entry points)', NEW.name
            USING ERRCODE = '22023';
    END IF;
    NEW.applied_at := now();
    RETURN NEW;
END
$$;


ALTER FUNCTION jobs.derive_definition() OWNER TO postgres;

--
-- Name: due_schedules(timestamp with time zone, integer); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.due_schedules(p_now timestamp with time zone, p_limit integer DEFAULT 100) RETURNS TABLE(org_id uuid, job_name text, cron text, tick timestamp with time zone)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT s.org_id, s.job_name, s.cron, s.next_fire_at
    FROM jobs.schedules s
    WHERE s.next_fire_at <= p_now AND s.last_error IS NULL  -- not set aside
    ORDER BY s.next_fire_at
    LIMIT p_limit
    FOR UPDATE SKIP LOCKED
$$;


ALTER FUNCTION jobs.due_schedules(p_now timestamp with time zone, p_limit integer) OWNER TO chainlake_definer;

--
-- Name: list(text); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.list(p_org text DEFAULT NULL::text) RETURNS TABLE(org text, name text, version text, kind text, type text, activation text, input_datasets text[], output_datasets text[], next_fire_at timestamp with time zone, schedule_error text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT DISTINCT ON (o.name, d.name) o.name, d.name, d.version, d.kind, d.spec ->> 'type',
           d.spec ->> 'activation', d.input_datasets, d.output_datasets, s.next_fire_at,
           s.last_error
    FROM jobs.definitions d JOIN core.orgs o ON o.id = d.org_id
    LEFT JOIN jobs.schedules s ON s.org_id = d.org_id AND s.job_name = d.name
    WHERE p_org IS NULL OR o.name = p_org
    ORDER BY o.name, d.name, d.applied_at DESC
$$;


ALTER FUNCTION jobs.list(p_org text) OWNER TO postgres;

--
-- Name: output_path_template_problem(text); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.output_path_template_problem(p_template text) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT format('output_path_template %s: %s', quote_literal(p_template),
                  string_agg(problem, '; ' ORDER BY n))
    FROM (
        SELECT 1 AS n, 'use only letters, digits, ''_'', ''.'', ''-'', ''/'' and {fields}; no ''..'''
            AS problem
        WHERE p_template !~ '\A[A-Za-z0-9_.{}/-]+\Z' OR '..' = ANY (string_to_array(p_template, '/'))
        UNION ALL
        SELECT 2, format('unknown field(s) %s; use {job, job_version, org_id, run_id}',
                         array_agg(DISTINCT f[1] ORDER BY f[1]))
        FROM regexp_matches(p_template, '\{([^{}]*)\}', 'g') f
        WHERE f[1] NOT IN ('org_id', 'job', 'job_version', 'run_id')
        HAVING count(*) > 0
        UNION ALL
        SELECT 3, 'a brace may only surround a field (no ''{{'', ''}}'' or unknown field)'
        WHERE regexp_replace(p_template, '\{[^{}]*\}', '', 'g') ~ '[{}]'
        UNION ALL
        SELECT 4, 'it must start with {org_id}/ (an org writes only in its own tree)'
        WHERE left(p_template, 9) <> '{org_id}/'
        UNION ALL
        SELECT 5, 'it must contain {run_id} (otherwise runs, and datasets, could collide)'
        WHERE position('{run_id}' IN p_template) = 0
    ) found
    WHERE p_template IS NOT NULL
    HAVING count(*) > 0
$$;


ALTER FUNCTION jobs.output_path_template_problem(p_template text) OWNER TO postgres;

--
-- Name: producer(uuid, text); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.producer(p_org_id uuid, p_dataset text) RETURNS jobs.definitions
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    def jobs.definitions;
BEGIN
    SELECT * INTO def FROM jobs.current_definitions(p_org_id) d
    WHERE p_dataset = ANY (d.output_datasets) ORDER BY d.name LIMIT 1;
    IF def.id IS NULL THEN
        RAISE EXCEPTION 'no job of this org writes dataset "%"', p_dataset USING ERRCODE = '42704',
            HINT = 'a job declares the datasets it writes in output_datasets';
    END IF;
    RETURN def;
END
$$;


ALTER FUNCTION jobs.producer(p_org_id uuid, p_dataset text) OWNER TO postgres;

--
-- Name: receive_webhook(uuid, text, jsonb, text); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.receive_webhook(p_org_id uuid, p_job text, p_payload jsonb, p_delivery text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    fired runs.runs;
    v_key text := format('webhook:%s:%s', p_job, p_delivery);
BEGIN
    IF session_user <> 'chainlake_api' THEN
        RAISE EXCEPTION 'only the API receives webhooks' USING ERRCODE = '42501';
    END IF;
    IF EXISTS (SELECT 1 FROM runs.runs r WHERE r.org_id = p_org_id AND r.idempotency_key = v_key)
    THEN
        RAISE EXCEPTION 'delivery "%" was already received: it queues no second run', p_delivery
            USING ERRCODE = '23505', HINT = 'send each new delivery with a new X-Chainlake-Delivery';
    END IF;
    PERFORM runs.check_queue_quota(p_org_id);
    fired := runs.enqueue(p_org_id, p_job, jsonb_build_object('payload', p_payload),
                          jsonb_build_object('kind', 'webhook', 'delivery', p_delivery),
                          '[]'::jsonb, v_key);
    RETURN fired.id;
END
$$;


ALTER FUNCTION jobs.receive_webhook(p_org_id uuid, p_job text, p_payload jsonb, p_delivery text) OWNER TO chainlake_definer;

--
-- Name: schedule_failed(uuid, text, text); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.schedule_failed(p_org_id uuid, p_job text, p_error text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    UPDATE jobs.schedules SET last_error = left(p_error, 1000)
    WHERE org_id = p_org_id AND job_name = p_job
$$;


ALTER FUNCTION jobs.schedule_failed(p_org_id uuid, p_job text, p_error text) OWNER TO chainlake_definer;

--
-- Name: schedule_fired(uuid, text, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.schedule_fired(p_org_id uuid, p_job text, p_tick timestamp with time zone, p_next timestamp with time zone) RETURNS runs.runs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    fired runs.runs;
BEGIN
    IF (jobs.current_definition(p_org_id, p_job)).id IS NULL THEN  -- its job is gone
        DELETE FROM jobs.schedules WHERE org_id = p_org_id AND job_name = p_job;
        RETURN NULL;
    END IF;
    fired := runs.enqueue(p_org_id, p_job, '{}'::jsonb,
                          jsonb_build_object('kind', 'cron', 'tick', p_tick), '[]'::jsonb,
                          format('cron:%s:%s', p_job, to_char(p_tick AT TIME ZONE 'UTC',
                                                              'YYYY-MM-DD"T"HH24:MI:SS')));
    UPDATE jobs.schedules SET next_fire_at = p_next, last_fired_at = p_tick
    WHERE org_id = p_org_id AND job_name = p_job;
    RETURN fired;
END
$$;


ALTER FUNCTION jobs.schedule_fired(p_org_id uuid, p_job text, p_tick timestamp with time zone, p_next timestamp with time zone) OWNER TO chainlake_definer;

--
-- Name: schedules; Type: ROW SECURITY; Schema: jobs; Owner: postgres
--

ALTER TABLE jobs.schedules ENABLE ROW LEVEL SECURITY;

--
-- Name: schedules; Type: TABLE; Schema: jobs; Owner: postgres
--

CREATE TABLE jobs.schedules (
    org_id uuid NOT NULL,
    job_name text NOT NULL,
    cron text NOT NULL,
    next_fire_at timestamp with time zone NOT NULL,
    last_fired_at timestamp with time zone,
    last_error text
);

ALTER TABLE ONLY jobs.schedules FORCE ROW LEVEL SECURITY;


ALTER TABLE jobs.schedules OWNER TO postgres;

--
-- Name: schedules members read their orgs rows; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON jobs.schedules FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: schedules schedules_checked; Type: TRIGGER; Schema: jobs; Owner: postgres
--

CREATE TRIGGER schedules_checked BEFORE INSERT OR UPDATE OF cron ON jobs.schedules FOR EACH ROW EXECUTE FUNCTION jobs.check_schedule_row();

--
-- Name: schedules schedules_org_id_fkey; Type: FK CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.schedules
    ADD CONSTRAINT schedules_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: schedules schedules_pkey; Type: CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.schedules
    ADD CONSTRAINT schedules_pkey PRIMARY KEY (org_id, job_name);

--
-- Name: schedules the platform's definer functions; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON jobs.schedules TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: schedules writers add rows to their orgs; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "writers add rows to their orgs" ON jobs.schedules FOR INSERT TO chainlake_users WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: schedules writers change their orgs rows; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "writers change their orgs rows" ON jobs.schedules FOR UPDATE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: schedules writers delete their orgs rows; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "writers delete their orgs rows" ON jobs.schedules FOR DELETE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: schedules_due_idx; Type: INDEX; Schema: jobs; Owner: postgres
--

CREATE INDEX schedules_due_idx ON jobs.schedules USING btree (next_fire_at);

--
-- Name: secret_values(text[]); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.secret_values(p_names text[]) RETURNS TABLE(name text, value_enc bytea)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT s.name, s.value_enc FROM jobs.secrets s
    WHERE s.org_id = core.runner_org_id() AND s.name = ANY (p_names)
$$;


ALTER FUNCTION jobs.secret_values(p_names text[]) OWNER TO chainlake_definer;

--
-- Name: secrets; Type: ROW SECURITY; Schema: jobs; Owner: postgres
--

ALTER TABLE jobs.secrets ENABLE ROW LEVEL SECURITY;

--
-- Name: secrets; Type: TABLE; Schema: jobs; Owner: postgres
--

CREATE TABLE jobs.secrets (
    org_id uuid NOT NULL,
    name text NOT NULL,
    value_enc bytea NOT NULL,
    created_by uuid,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT secrets_name_format CHECK ((name ~ '^[a-z][a-z0-9_]{0,62}$'::text)),
    CONSTRAINT secrets_not_platform CHECK ((name <> ALL (ARRAY['chain_writer'::text, 'alert_sender'::text, 'key'::text])))
);

ALTER TABLE ONLY jobs.secrets FORCE ROW LEVEL SECURITY;


ALTER TABLE jobs.secrets OWNER TO postgres;

--
-- Name: secrets members see their orgs secret names; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "members see their orgs secret names" ON jobs.secrets FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: secrets secrets_audited; Type: TRIGGER; Schema: jobs; Owner: postgres
--

CREATE TRIGGER secrets_audited AFTER INSERT OR DELETE OR UPDATE ON jobs.secrets FOR EACH ROW EXECUTE FUNCTION core.audit_config_change('secret', 'name');

--
-- Name: secrets secrets_created_by_fkey; Type: FK CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.secrets
    ADD CONSTRAINT secrets_created_by_fkey FOREIGN KEY (created_by) REFERENCES core.users(id) ON DELETE SET NULL;

--
-- Name: secrets secrets_org_id_fkey; Type: FK CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.secrets
    ADD CONSTRAINT secrets_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: secrets secrets_pkey; Type: CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.secrets
    ADD CONSTRAINT secrets_pkey PRIMARY KEY (org_id, name);

--
-- Name: secrets secrets_stamp_creator; Type: TRIGGER; Schema: jobs; Owner: postgres
--

CREATE TRIGGER secrets_stamp_creator BEFORE INSERT OR UPDATE ON jobs.secrets FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');

--
-- Name: secrets the platform's definer functions; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON jobs.secrets TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: secrets writers add rows to their orgs; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "writers add rows to their orgs" ON jobs.secrets FOR INSERT TO chainlake_users WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: secrets writers change their orgs rows; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "writers change their orgs rows" ON jobs.secrets FOR UPDATE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: secrets writers delete their orgs rows; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "writers delete their orgs rows" ON jobs.secrets FOR DELETE TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: set_secret(text, text, bytea); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.set_secret(p_org text, p_name text, p_value_enc bytea) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    org uuid := core.writable_org(p_org, 'set its secrets');
BEGIN
    INSERT INTO jobs.secrets AS s (org_id, name, value_enc, created_by)
    VALUES (org, p_name, p_value_enc, core.caller_user_id())
    ON CONFLICT (org_id, name) DO UPDATE SET value_enc = excluded.value_enc, updated_at = now();
END
$$;


ALTER FUNCTION jobs.set_secret(p_org text, p_name text, p_value_enc bytea) OWNER TO chainlake_definer;

--
-- Name: set_webhook_secret(uuid, text, bytea); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.set_webhook_secret(p_org_id uuid, p_job text, p_secret_enc bytea) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    def jobs.definitions;
BEGIN
    IF NOT (p_org_id = ANY (core.caller_org_ids('admin')) OR core.caller_is_operator()) THEN
        RAISE EXCEPTION 'only an org admin may set a webhook secret' USING ERRCODE = '42501';
    END IF;
    def := jobs.current_definition(p_org_id, p_job);
    IF def.id IS NULL OR def.spec ->> 'activation' IS DISTINCT FROM 'webhook' THEN
        RAISE EXCEPTION 'job "%" is not a webhook job', p_job USING ERRCODE = '22023',
            HINT = 'its definition needs kind: source and activation: webhook';
    END IF;
    INSERT INTO jobs.webhook_secrets (org_id, job_name, secret_enc, created_by)
    VALUES (p_org_id, p_job, p_secret_enc, core.caller_user_id())
    ON CONFLICT (org_id, job_name) DO UPDATE
        SET secret_enc = excluded.secret_enc, created_at = now(), created_by = excluded.created_by;
    PERFORM audit.record(p_org_id, 'webhook.secret', p_job);
END
$$;


ALTER FUNCTION jobs.set_webhook_secret(p_org_id uuid, p_job text, p_secret_enc bytea) OWNER TO chainlake_definer;

--
-- Name: show(text, text); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.show(p_org text, p_name text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    org uuid := (SELECT o.id FROM core.orgs o WHERE o.name = p_org);
    found jsonb;
BEGIN
    SELECT jsonb_build_object(
        'org', p_org, 'name', p_name,
        'current', (array_agg(jsonb_build_object('version', d.version, 'kind', d.kind,
                                                 'applied_at', d.applied_at, 'spec', d.spec)
                              ORDER BY d.applied_at DESC))[1],
        'versions', jsonb_agg(jsonb_build_object('version', d.version, 'kind', d.kind,
                                                 'applied_at', d.applied_at)
                              ORDER BY d.applied_at DESC))
    INTO found
    FROM jobs.definitions d WHERE d.org_id = org AND d.name = p_name
    HAVING count(*) > 0;
    IF found IS NULL THEN
        RAISE EXCEPTION 'unknown job "%" in org "%"', p_name, p_org USING ERRCODE = '42704',
            HINT = 'list jobs with `chainlake job list`';
    END IF;
    RETURN found || jsonb_build_object('schedule', (
        SELECT jsonb_build_object('cron', s.cron, 'next_fire_at', s.next_fire_at,
                                  'error', s.last_error)
        FROM jobs.schedules s WHERE s.org_id = org AND s.job_name = p_name));
END
$$;


ALTER FUNCTION jobs.show(p_org text, p_name text) OWNER TO postgres;

--
-- Name: supervise_always_on(timestamp with time zone); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.supervise_always_on(p_now timestamp with time zone DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    def record;
    last runs.runs;
    failures integer;
    backoff_s double precision;
    started integer := 0;
BEGIN
    FOR def IN
        SELECT DISTINCT ON (org_id, name) org_id, name, spec FROM jobs.definitions
        ORDER BY org_id, name, applied_at DESC
    LOOP
      BEGIN
        CONTINUE WHEN def.spec ->> 'activation' IS DISTINCT FROM 'always_on';
        CONTINUE WHEN EXISTS (SELECT 1 FROM runs.runs WHERE org_id = def.org_id
                              AND job_name = def.name
                              AND status IN ('queued', 'running', 'retrying'));
        SELECT * INTO last FROM runs.runs WHERE org_id = def.org_id AND job_name = def.name
        ORDER BY created_at DESC LIMIT 1;
        SELECT count(*) INTO failures FROM (
            SELECT status, bool_and(status <> 'succeeded') OVER (ORDER BY created_at DESC) AS streak
            FROM runs.runs WHERE org_id = def.org_id AND job_name = def.name
            ORDER BY created_at DESC LIMIT 10) recent
        WHERE streak;
        backoff_s := CASE WHEN failures = 0 THEN 1 ELSE least(60, 2 ^ failures) END;
        CONTINUE WHEN last.id IS NOT NULL
                  AND coalesce(last.finished_at, last.created_at)
                      + backoff_s * interval '1 second' > p_now;
        PERFORM runs.enqueue(def.org_id, def.name, '{}'::jsonb,
                             jsonb_build_object('kind', 'always_on', 'restart', failures),
                             '[]'::jsonb,
                             format('always_on:%s:%s', def.name,
                                    (SELECT count(*) FROM runs.runs WHERE org_id = def.org_id
                                     AND job_name = def.name)));
        started := started + 1;
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'always_on job % of org % skipped: %', def.name, def.org_id, SQLERRM;
      END;
    END LOOP;
    RETURN started;
END
$$;


ALTER FUNCTION jobs.supervise_always_on(p_now timestamp with time zone) OWNER TO chainlake_definer;

--
-- Name: unschedule(uuid, text); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.unschedule(p_org_id uuid, p_job text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF NOT core.caller_may_write(p_org_id) THEN
        RAISE EXCEPTION 'you may not change jobs in this org' USING ERRCODE = '42501';
    END IF;
    DELETE FROM jobs.schedules WHERE org_id = p_org_id AND job_name = p_job;
END
$$;


ALTER FUNCTION jobs.unschedule(p_org_id uuid, p_job text) OWNER TO chainlake_definer;

--
-- Name: value_rules(); Type: FUNCTION; Schema: jobs; Owner: postgres
--

CREATE FUNCTION jobs.value_rules() RETURNS TABLE(field text, path jsonpath, pattern text, max_length integer, rule text)
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
    SELECT field, path::jsonpath, pattern, max_length::integer, rule FROM (VALUES
        ('name', '$.name', '\A[a-z0-9][a-z0-9_.-]{0,62}\Z', NULL,
         'may hold only lowercase letters, digits, ''.'', ''_'' and ''-'', start with a letter or digit, and have at most 63 characters'),
        ('version', '$.version', '\A[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z', NULL,
         'may hold only letters, digits, ''.'', ''_'' and ''-'', start with a letter or digit, and have at most 100 characters'),
        ('input_datasets', '$.input_datasets[*]', '\A[a-z0-9][a-z0-9_.-]{0,62}\Z', NULL,
         'may hold only lowercase letters, digits, ''.'', ''_'' and ''-'', start with a letter or digit, and have at most 63 characters'),
        ('output_datasets', '$.output_datasets[*]', '\A[a-z0-9][a-z0-9_.-]{0,62}\Z', NULL,
         'may hold only lowercase letters, digits, ''.'', ''_'' and ''-'', start with a letter or digit, and have at most 63 characters'),
        ('secrets', '$.secrets[*]', '\A[a-z][a-z0-9_]{0,62}\Z', NULL,
         'may hold only lowercase letters, digits and ''_'', start with a letter, and have at most 63 characters (each becomes the variable CHAINLAKE_SECRET_<NAME>)'),
        ('launcher.command[0]', '$.launcher.command[0]', '\A[^-]', NULL,
         '(the program) may not be empty or start with ''-'''),
        ('launcher.workdir', '$.launcher.workdir',
         '\A(?:/(?!\.\.?(?:/|\Z))[^/\u0000-\u001f\u007f]+)+\Z', 4096,
         'must be an absolute path without ''.'' or ''..'' components, empty components or control characters'),
        ('launcher.image', '$.launcher.image',
         '\A(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?\Z',
         255,
         'must be an image reference, [registry[:port]/]name[:tag][@sha256:digest] with lowercase name components of letters, digits, ''.'', ''_'' and ''-'' (never starting with ''-''), of at most 255 characters')
    ) AS r (field, path, pattern, max_length, rule)
$_$;


ALTER FUNCTION jobs.value_rules() OWNER TO postgres;

--
-- Name: webhook_secret(uuid, text); Type: FUNCTION; Schema: jobs; Owner: chainlake_definer
--

CREATE FUNCTION jobs.webhook_secret(p_org_id uuid, p_job text) RETURNS bytea
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT w.secret_enc FROM jobs.webhook_secrets w
    WHERE session_user = 'chainlake_api' AND w.org_id = p_org_id AND w.job_name = p_job
$$;


ALTER FUNCTION jobs.webhook_secret(p_org_id uuid, p_job text) OWNER TO chainlake_definer;

--
-- Name: webhook_secrets; Type: ROW SECURITY; Schema: jobs; Owner: postgres
--

ALTER TABLE jobs.webhook_secrets ENABLE ROW LEVEL SECURITY;

--
-- Name: webhook_secrets; Type: TABLE; Schema: jobs; Owner: postgres
--

CREATE TABLE jobs.webhook_secrets (
    org_id uuid NOT NULL,
    job_name text NOT NULL,
    secret_enc bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by uuid
);

ALTER TABLE ONLY jobs.webhook_secrets FORCE ROW LEVEL SECURITY;


ALTER TABLE jobs.webhook_secrets OWNER TO postgres;

--
-- Name: webhook_secrets admins see which jobs have webhook secrets; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "admins see which jobs have webhook secrets" ON jobs.webhook_secrets FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: webhook_secrets the platform's definer functions; Type: POLICY; Schema: jobs; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON jobs.webhook_secrets TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: webhook_secrets webhook_secrets_created_by_fkey; Type: FK CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.webhook_secrets
    ADD CONSTRAINT webhook_secrets_created_by_fkey FOREIGN KEY (created_by) REFERENCES core.users(id) ON DELETE SET NULL;

--
-- Name: webhook_secrets webhook_secrets_org_id_fkey; Type: FK CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.webhook_secrets
    ADD CONSTRAINT webhook_secrets_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: webhook_secrets webhook_secrets_pkey; Type: CONSTRAINT; Schema: jobs; Owner: postgres
--

ALTER TABLE ONLY jobs.webhook_secrets
    ADD CONSTRAINT webhook_secrets_pkey PRIMARY KEY (org_id, job_name);

--
-- Name: COLUMN address_labels.address; Type: ACL; Schema: pii; Owner: postgres
--

GRANT INSERT(address) ON TABLE pii.address_labels TO chainlake_users;

--
-- Name: COLUMN address_labels.kind; Type: ACL; Schema: pii; Owner: postgres
--

GRANT INSERT(kind) ON TABLE pii.address_labels TO chainlake_users;

--
-- Name: COLUMN address_labels.label; Type: ACL; Schema: pii; Owner: postgres
--

GRANT INSERT(label) ON TABLE pii.address_labels TO chainlake_users;

--
-- Name: COLUMN address_labels.org_id; Type: ACL; Schema: pii; Owner: postgres
--

GRANT INSERT(org_id) ON TABLE pii.address_labels TO chainlake_users;

--
-- Name: COLUMN address_labels.owner_id; Type: ACL; Schema: pii; Owner: postgres
--

GRANT INSERT(owner_id) ON TABLE pii.address_labels TO chainlake_users;

--
-- Name: COLUMN address_labels.visibility; Type: ACL; Schema: pii; Owner: postgres
--

GRANT INSERT(visibility) ON TABLE pii.address_labels TO chainlake_users;

--
-- Name: FUNCTION address_text(p_address bytea); Type: ACL; Schema: pii; Owner: postgres
--

REVOKE ALL ON FUNCTION pii.address_text(p_address bytea) FROM PUBLIC;
GRANT ALL ON FUNCTION pii.address_text(p_address bytea) TO chainlake_definer;
GRANT ALL ON FUNCTION pii.address_text(p_address bytea) TO chainlake_users;

--
-- Name: FUNCTION audit_change(); Type: ACL; Schema: pii; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION pii.audit_change() FROM PUBLIC;

--
-- Name: FUNCTION delete_subject(p_org text, p_subject text); Type: ACL; Schema: pii; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION pii.delete_subject(p_org text, p_subject text) FROM PUBLIC;
GRANT ALL ON FUNCTION pii.delete_subject(p_org text, p_subject text) TO chainlake_users;

--
-- Name: FUNCTION derived_versions(p_org uuid, p_since timestamp with time zone); Type: ACL; Schema: pii; Owner: postgres
--

REVOKE ALL ON FUNCTION pii.derived_versions(p_org uuid, p_since timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION pii.derived_versions(p_org uuid, p_since timestamp with time zone) TO chainlake_definer;

--
-- Name: FUNCTION erase_subject(p_subject text, p_org text, p_redact boolean); Type: ACL; Schema: pii; Owner: postgres
--

REVOKE ALL ON FUNCTION pii.erase_subject(p_subject text, p_org text, p_redact boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION pii.erase_subject(p_subject text, p_org text, p_redact boolean) TO chainlake_definer;

--
-- Name: FUNCTION labels(p_org text, p_subject text, p_limit integer); Type: ACL; Schema: pii; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION pii.labels(p_org text, p_subject text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION pii.labels(p_org text, p_subject text, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION redact_subject(p_org text, p_subject text); Type: ACL; Schema: pii; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION pii.redact_subject(p_org text, p_subject text) FROM PUBLIC;
GRANT ALL ON FUNCTION pii.redact_subject(p_org text, p_subject text) TO chainlake_users;

--
-- Name: FUNCTION remove_in_scope(p_org text, p_subject text, p_redact boolean); Type: ACL; Schema: pii; Owner: postgres
--

REVOKE ALL ON FUNCTION pii.remove_in_scope(p_org text, p_subject text, p_redact boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION pii.remove_in_scope(p_org text, p_subject text, p_redact boolean) TO chainlake_definer;

--
-- Name: FUNCTION remove_subject(p_org uuid, p_subject bytea, p_owner uuid, p_shared boolean, p_redact boolean); Type: ACL; Schema: pii; Owner: postgres
--

REVOKE ALL ON FUNCTION pii.remove_subject(p_org uuid, p_subject bytea, p_owner uuid, p_shared boolean, p_redact boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION pii.remove_subject(p_org uuid, p_subject bytea, p_owner uuid, p_shared boolean, p_redact boolean) TO chainlake_definer;

--
-- Name: FUNCTION set_label(p_org text, p_subject text, p_label text, p_kind text, p_visibility catalog.visibility); Type: ACL; Schema: pii; Owner: postgres
--

REVOKE ALL ON FUNCTION pii.set_label(p_org text, p_subject text, p_label text, p_kind text, p_visibility catalog.visibility) FROM PUBLIC;
GRANT ALL ON FUNCTION pii.set_label(p_org text, p_subject text, p_label text, p_kind text, p_visibility catalog.visibility) TO chainlake_definer;
GRANT ALL ON FUNCTION pii.set_label(p_org text, p_subject text, p_label text, p_kind text, p_visibility catalog.visibility) TO chainlake_users;

--
-- Name: FUNCTION subject(p_address text); Type: ACL; Schema: pii; Owner: postgres
--

REVOKE ALL ON FUNCTION pii.subject(p_address text) FROM PUBLIC;
GRANT ALL ON FUNCTION pii.subject(p_address text) TO chainlake_definer;
GRANT ALL ON FUNCTION pii.subject(p_address text) TO chainlake_users;

--
-- Name: TABLE address_labels; Type: ACL; Schema: pii; Owner: postgres
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE pii.address_labels TO chainlake_definer;

--
-- Name: address_labels; Type: ROW SECURITY; Schema: pii; Owner: postgres
--

ALTER TABLE pii.address_labels ENABLE ROW LEVEL SECURITY;

--
-- Name: address_labels; Type: TABLE; Schema: pii; Owner: postgres
--

CREATE TABLE pii.address_labels (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    owner_id uuid NOT NULL,
    address bytea NOT NULL,
    label text NOT NULL,
    visibility catalog.visibility DEFAULT 'private'::catalog.visibility NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    kind text DEFAULT 'label'::text NOT NULL,
    redacted_at timestamp with time zone,
    CONSTRAINT address_labels_kind_format CHECK ((kind ~ '^[a-z][a-z0-9_]{0,31}$'::text))
);

ALTER TABLE ONLY pii.address_labels FORCE ROW LEVEL SECURITY;


ALTER TABLE pii.address_labels OWNER TO postgres;

--
-- Name: address_labels address_labels_address_length; Type: CHECK CONSTRAINT; Schema: pii; Owner: postgres
--

ALTER TABLE pii.address_labels
    ADD CONSTRAINT address_labels_address_length CHECK ((octet_length(address) = 20)) NOT VALID;

--
-- Name: address_labels address_labels_audited; Type: TRIGGER; Schema: pii; Owner: postgres
--

CREATE TRIGGER address_labels_audited AFTER INSERT OR DELETE OR UPDATE ON pii.address_labels FOR EACH ROW EXECUTE FUNCTION pii.audit_change();

--
-- Name: address_labels address_labels_org_id_fkey; Type: FK CONSTRAINT; Schema: pii; Owner: postgres
--

ALTER TABLE ONLY pii.address_labels
    ADD CONSTRAINT address_labels_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: address_labels address_labels_owner_id_fkey; Type: FK CONSTRAINT; Schema: pii; Owner: postgres
--

ALTER TABLE ONLY pii.address_labels
    ADD CONSTRAINT address_labels_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES core.users(id) ON DELETE CASCADE;

--
-- Name: address_labels address_labels_pkey; Type: CONSTRAINT; Schema: pii; Owner: postgres
--

ALTER TABLE ONLY pii.address_labels
    ADD CONSTRAINT address_labels_pkey PRIMARY KEY (org_id, id);

--
-- Name: address_labels members add their own rows; Type: POLICY; Schema: pii; Owner: postgres
--

CREATE POLICY "members add their own rows" ON pii.address_labels FOR INSERT TO chainlake_users WITH CHECK (((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])) AND (owner_id = ( SELECT core.caller_user_id() AS caller_user_id)) AND ((visibility = 'private'::catalog.visibility) OR (org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])))));

--
-- Name: address_labels owners and their org read shared rows; Type: POLICY; Schema: pii; Owner: postgres
--

CREATE POLICY "owners and their org read shared rows" ON pii.address_labels FOR SELECT TO chainlake_users USING (((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])) AND ((visibility = 'org'::catalog.visibility) OR (owner_id = ( SELECT core.caller_user_id() AS caller_user_id)))));

--
-- Name: address_labels owners change their own rows; Type: POLICY; Schema: pii; Owner: postgres
--

CREATE POLICY "owners change their own rows" ON pii.address_labels FOR UPDATE TO chainlake_users USING (((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])) AND (owner_id = ( SELECT core.caller_user_id() AS caller_user_id)))) WITH CHECK (((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])) AND (owner_id = ( SELECT core.caller_user_id() AS caller_user_id)) AND ((visibility = 'private'::catalog.visibility) OR (org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])))));

--
-- Name: address_labels owners or admins delete rows; Type: POLICY; Schema: pii; Owner: postgres
--

CREATE POLICY "owners or admins delete rows" ON pii.address_labels FOR DELETE TO chainlake_users USING (((org_id = ANY (( SELECT core.caller_org_ids('member'::core.access) AS caller_org_ids)::uuid[])) AND ((owner_id = ( SELECT core.caller_user_id() AS caller_user_id)) OR ((visibility = 'org'::catalog.visibility) AND (org_id = ANY (( SELECT core.caller_org_ids('admin'::core.access) AS caller_org_ids)::uuid[]))))));

--
-- Name: address_labels the platform's definer functions; Type: POLICY; Schema: pii; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON pii.address_labels TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: address_labels_key; Type: INDEX; Schema: pii; Owner: postgres
--

CREATE UNIQUE INDEX address_labels_key ON pii.address_labels USING btree (org_id, owner_id, address, kind, label) WHERE (redacted_at IS NULL);

--
-- Name: address_labels_subject_idx; Type: INDEX; Schema: pii; Owner: postgres
--

CREATE INDEX address_labels_subject_idx ON pii.address_labels USING btree (org_id, address);

--
-- Name: address_text(bytea); Type: FUNCTION; Schema: pii; Owner: postgres
--

CREATE FUNCTION pii.address_text(p_address bytea) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT '0x' || encode(p_address, 'hex')
$$;


ALTER FUNCTION pii.address_text(p_address bytea) OWNER TO postgres;

--
-- Name: audit_change(); Type: FUNCTION; Schema: pii; Owner: chainlake_definer
--

CREATE FUNCTION pii.audit_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    changed pii.address_labels := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    PERFORM audit.record(
        changed.org_id,
        'pii.label.' || CASE TG_OP WHEN 'INSERT' THEN 'add' WHEN 'UPDATE' THEN 'change'
                                   ELSE 'remove' END,
        pii.address_text(changed.address),
        jsonb_build_object('id', changed.id, 'owner_id', changed.owner_id, 'kind', changed.kind,
                           'visibility', changed.visibility,
                           'redacted', changed.redacted_at IS NOT NULL));
    RETURN NULL;
END
$$;


ALTER FUNCTION pii.audit_change() OWNER TO chainlake_definer;

--
-- Name: delete_subject(text, text); Type: FUNCTION; Schema: pii; Owner: chainlake_definer
--

CREATE FUNCTION pii.delete_subject(p_org text, p_subject text) RETURNS TABLE(org text, rows integer, versions_marked integer)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT * FROM pii.remove_in_scope(p_org, p_subject, false)
$$;


ALTER FUNCTION pii.delete_subject(p_org text, p_subject text) OWNER TO chainlake_definer;

--
-- Name: derived_versions(uuid, timestamp with time zone); Type: FUNCTION; Schema: pii; Owner: postgres
--

CREATE FUNCTION pii.derived_versions(p_org uuid, p_since timestamp with time zone) RETURNS TABLE(dataset_id uuid, version integer)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH RECURSIVE derived AS (
        SELECT v.dataset_id, v.version
        FROM catalog.asset_versions v
        JOIN runs.runs r ON r.org_id = v.org_id AND r.id = v.run_id
        JOIN jobs.definitions d
          ON d.org_id = r.org_id AND d.name = r.job_name AND d.version = r.job_version
        WHERE v.org_id = p_org AND v.created_at >= p_since
          AND (d.spec -> 'reads_pii') = 'true'::jsonb
        UNION
        SELECT v.dataset_id, v.version
        FROM derived h
        JOIN runs.run_inputs i
          ON i.org_id = p_org AND i.dataset_id = h.dataset_id AND i.version = h.version
        JOIN catalog.asset_versions v ON v.org_id = i.org_id AND v.run_id = i.run_id
    )
    SELECT dataset_id, version FROM derived
$$;


ALTER FUNCTION pii.derived_versions(p_org uuid, p_since timestamp with time zone) OWNER TO postgres;

--
-- Name: erase_subject(text, text, boolean); Type: FUNCTION; Schema: pii; Owner: postgres
--

CREATE FUNCTION pii.erase_subject(p_subject text, p_org text DEFAULT NULL::text, p_redact boolean DEFAULT false) RETURNS TABLE(org text, rows integer, versions_marked integer)
    LANGUAGE sql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT r.* FROM pii.remove_subject(
        CASE WHEN p_org IS NOT NULL THEN (core.org_by_name(p_org)).id END,
        pii.subject(p_subject), NULL, true, p_redact) r
$$;


ALTER FUNCTION pii.erase_subject(p_subject text, p_org text, p_redact boolean) OWNER TO postgres;

--
-- Name: labels(text, text, integer); Type: FUNCTION; Schema: pii; Owner: chainlake_definer
--

CREATE FUNCTION pii.labels(p_org text, p_subject text DEFAULT NULL::text, p_limit integer DEFAULT 1000) RETURNS TABLE(org text, subject text, kind text, label text, visibility catalog.visibility, owner text, created_at timestamp with time zone, redacted boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_org uuid := core.member_org(p_org);
    v_subject bytea := CASE WHEN p_subject IS NOT NULL THEN pii.subject(p_subject) END;
    v_me uuid := core.caller_user_id();
    found pii.address_labels[];
BEGIN
    SELECT coalesce(array_agg(l.a ORDER BY l.n), '{}') INTO found
    FROM (SELECT a, row_number() OVER (ORDER BY a.address, a.kind, a.label, a.id) AS n
          FROM pii.address_labels a
          WHERE a.org_id = v_org AND (a.visibility = 'org' OR a.owner_id = v_me)
            AND (v_subject IS NULL OR a.address = v_subject)
          ORDER BY n
          LIMIT least(greatest(coalesce(p_limit, 1000), 1), 1000)) l;
    -- exactly one event, in this transaction: fail closed
    PERFORM audit.record(
        v_org, 'pii.read', coalesce(pii.address_text(v_subject), ''),
        jsonb_build_object(
            'filters', jsonb_build_object('subject', pii.address_text(v_subject),
                                          'limit', p_limit),
            'rows', cardinality(found),
            'subjects', (SELECT coalesce(jsonb_agg(DISTINCT pii.address_text(f.address)), '[]')
                         FROM unnest(found) f)));
    RETURN QUERY
        SELECT p_org, pii.address_text(f.address), f.kind, f.label, f.visibility, u.email,
               f.created_at, f.redacted_at IS NOT NULL
        FROM unnest(found) WITH ORDINALITY AS f
        LEFT JOIN core.users u ON u.id = f.owner_id
        ORDER BY f.ordinality;
END
$$;


ALTER FUNCTION pii.labels(p_org text, p_subject text, p_limit integer) OWNER TO chainlake_definer;

--
-- Name: redact_subject(text, text); Type: FUNCTION; Schema: pii; Owner: chainlake_definer
--

CREATE FUNCTION pii.redact_subject(p_org text, p_subject text) RETURNS TABLE(org text, rows integer, versions_marked integer)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT * FROM pii.remove_in_scope(p_org, p_subject, true)
$$;


ALTER FUNCTION pii.redact_subject(p_org text, p_subject text) OWNER TO chainlake_definer;

--
-- Name: remove_in_scope(text, text, boolean); Type: FUNCTION; Schema: pii; Owner: postgres
--

CREATE FUNCTION pii.remove_in_scope(p_org text, p_subject text, p_redact boolean) RETURNS TABLE(org text, rows integer, versions_marked integer)
    LANGUAGE sql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT r.* FROM (SELECT core.member_org(p_org) AS id, pii.subject(p_subject) AS subject) c,
        pii.remove_subject(c.id, c.subject, core.caller_user_id(),
                           c.id = ANY (core.caller_org_ids('admin')), p_redact) r
$$;


ALTER FUNCTION pii.remove_in_scope(p_org text, p_subject text, p_redact boolean) OWNER TO postgres;

--
-- Name: remove_subject(uuid, bytea, uuid, boolean, boolean); Type: FUNCTION; Schema: pii; Owner: postgres
--

CREATE FUNCTION pii.remove_subject(p_org uuid, p_subject bytea, p_owner uuid, p_shared boolean, p_redact boolean) RETURNS TABLE(org text, rows integer, versions_marked integer)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    what constant text := CASE WHEN p_redact THEN 'redact' ELSE 'delete' END;
    target record;
    n_rows integer;
    n_versions integer;
    events integer := 0;
BEGIN
    FOR target IN
        SELECT l.org_id, o.name, min(l.created_at) AS since
        FROM pii.address_labels l JOIN core.orgs o ON o.id = l.org_id
        WHERE l.address = p_subject AND (p_org IS NULL OR l.org_id = p_org)
          AND (p_owner IS NULL OR l.owner_id = p_owner OR (p_shared AND l.visibility = 'org'))
          AND NOT (p_redact AND l.redacted_at IS NOT NULL)
        GROUP BY l.org_id, o.name ORDER BY o.name
    LOOP
        IF p_redact THEN
            UPDATE pii.address_labels l SET label = '[REDACTED]', redacted_at = now()
            WHERE l.org_id = target.org_id AND l.address = p_subject AND l.redacted_at IS NULL
              AND (p_owner IS NULL OR l.owner_id = p_owner OR (p_shared AND l.visibility = 'org'));
        ELSE
            DELETE FROM pii.address_labels l
            WHERE l.org_id = target.org_id AND l.address = p_subject
              AND (p_owner IS NULL OR l.owner_id = p_owner OR (p_shared AND l.visibility = 'org'));
        END IF;
        GET DIAGNOSTICS n_rows = ROW_COUNT;
        UPDATE catalog.asset_versions v
        SET needs_rebuild_at = now(),
            rebuild_reason = format('built from PII that was %s at %s (audit action pii.%s)',
                                    CASE WHEN p_redact THEN 'redacted' ELSE 'deleted' END,
                                    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
                                    what)
        FROM pii.derived_versions(target.org_id, target.since) d
        WHERE v.org_id = target.org_id AND v.dataset_id = d.dataset_id AND v.version = d.version;
        GET DIAGNOSTICS n_versions = ROW_COUNT;
        PERFORM audit.record(target.org_id, 'pii.' || what, pii.address_text(p_subject),
                             jsonb_build_object('rows', n_rows, 'versions_marked', n_versions,
                                                'scope', CASE WHEN p_owner IS NULL THEN 'all'
                                                              WHEN p_shared THEN 'own+org'
                                                              ELSE 'own' END));
        events := events + 1;
        RETURN QUERY SELECT target.name, n_rows, n_versions;
    END LOOP;
    IF events = 0 THEN  -- nothing in scope: the request is still recorded
        PERFORM audit.record(p_org, 'pii.' || what, pii.address_text(p_subject),
                             jsonb_build_object('rows', 0, 'versions_marked', 0));
        RETURN QUERY SELECT (SELECT o.name FROM core.orgs o WHERE o.id = p_org), 0, 0;
    END IF;
END
$$;


ALTER FUNCTION pii.remove_subject(p_org uuid, p_subject bytea, p_owner uuid, p_shared boolean, p_redact boolean) OWNER TO postgres;

--
-- Name: set_label(text, text, text, text, catalog.visibility); Type: FUNCTION; Schema: pii; Owner: postgres
--

CREATE FUNCTION pii.set_label(p_org text, p_subject text, p_label text, p_kind text DEFAULT 'label'::text, p_visibility catalog.visibility DEFAULT 'private'::catalog.visibility) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    v_org uuid := CASE WHEN p_visibility = 'org'
                       THEN core.writable_org(p_org, 'share labels with the org')
                       ELSE core.member_org(p_org) END;
    v_subject bytea := pii.subject(p_subject);
BEGIN
    IF coalesce(btrim(p_label), '') = '' OR length(p_label) > 1000 THEN
        RAISE EXCEPTION 'a label needs 1 to 1000 characters' USING ERRCODE = '22023';
    END IF;
    IF coalesce(p_kind, '') !~ '^[a-z][a-z0-9_]{0,31}$' THEN
        RAISE EXCEPTION 'invalid kind "%": use up to 32 lowercase letters, digits or "_", starting with a letter',
            coalesce(p_kind, '') USING ERRCODE = '22023', HINT = 'the default is label';
    END IF;
    -- (not ON CONFLICT: its arbiter needs SELECT on the columns, which people do not have)
    INSERT INTO pii.address_labels (org_id, owner_id, address, kind, label, visibility)
    VALUES (v_org, core.caller_user_id(), v_subject, p_kind, p_label, p_visibility);
    RETURN 1;
EXCEPTION WHEN unique_violation THEN  -- the caller's own label: the key leads with org, owner
    RETURN 0;
END
$_$;


ALTER FUNCTION pii.set_label(p_org text, p_subject text, p_label text, p_kind text, p_visibility catalog.visibility) OWNER TO postgres;

--
-- Name: subject(text); Type: FUNCTION; Schema: pii; Owner: postgres
--

CREATE FUNCTION pii.subject(p_address text) RETURNS bytea
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
BEGIN
    IF p_address IS NULL OR p_address !~ '^0[xX][0-9a-fA-F]{40}$' THEN
        RAISE EXCEPTION 'malformed address "%": expected 0x followed by 40 hex digits',
            coalesce(p_address, '') USING ERRCODE = '22023',
            HINT = 'for example 0x00000000000000000000000000000000000000ab';
    END IF;
    RETURN decode(substr(p_address, 3), 'hex');
END
$_$;


ALTER FUNCTION pii.subject(p_address text) OWNER TO postgres;

--
-- Name: FUNCTION append_log(p_run_id uuid, p_attempt integer, p_events jsonb); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.append_log(p_run_id uuid, p_attempt integer, p_events jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.append_log(p_run_id uuid, p_attempt integer, p_events jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.append_log(p_run_id uuid, p_attempt integer, p_events jsonb) TO chainlake_runner;

--
-- Name: FUNCTION attempt_outlived(p_run_id uuid, p_attempt integer); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.attempt_outlived(p_run_id uuid, p_attempt integer) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.attempt_outlived(p_run_id uuid, p_attempt integer) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.attempt_outlived(p_run_id uuid, p_attempt integer) TO chainlake_runner;

--
-- Name: FUNCTION backfill(p_org_id uuid, p_dataset text, p_from text, p_to text); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.backfill(p_org_id uuid, p_dataset text, p_from text, p_to text) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.backfill(p_org_id uuid, p_dataset text, p_from text, p_to text) TO chainlake_users;

--
-- Name: FUNCTION backfill_progress(p_backfill_id text); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.backfill_progress(p_backfill_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.backfill_progress(p_backfill_id text) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.backfill_progress(p_backfill_id text) TO chainlake_users;

--
-- Name: FUNCTION cancel(p_run_id text); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.cancel(p_run_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.cancel(p_run_id text) TO chainlake_users;

--
-- Name: FUNCTION chain_inputs_of(p_datasets text[], p_chain_id bigint, p_from bigint, p_to bigint); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.chain_inputs_of(p_datasets text[], p_chain_id bigint, p_from bigint, p_to bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.chain_inputs_of(p_datasets text[], p_chain_id bigint, p_from bigint, p_to bigint) TO chainlake_definer;

--
-- Name: FUNCTION chain_jobs(p_chain_id bigint); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.chain_jobs(p_chain_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.chain_jobs(p_chain_id bigint) TO chainlake_definer;

--
-- Name: FUNCTION check_cpu_quota(p_org_id uuid); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.check_cpu_quota(p_org_id uuid) FROM PUBLIC;

--
-- Name: FUNCTION check_queue_quota(p_org_id uuid, p_adding integer); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.check_queue_quota(p_org_id uuid, p_adding integer) FROM PUBLIC;

--
-- Name: FUNCTION complete(p_run_id uuid, p_attempt integer, p_outputs jsonb, p_metadata jsonb); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.complete(p_run_id uuid, p_attempt integer, p_outputs jsonb, p_metadata jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.complete(p_run_id uuid, p_attempt integer, p_outputs jsonb, p_metadata jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.complete(p_run_id uuid, p_attempt integer, p_outputs jsonb, p_metadata jsonb) TO chainlake_runner;

--
-- Name: FUNCTION dead_letter(r runs.runs, p_error jsonb); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.dead_letter(r runs.runs, p_error jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.dead_letter(r runs.runs, p_error jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.dead_letter(r runs.runs, p_error jsonb) TO chainlake_runner;

--
-- Name: FUNCTION dispatch_chain_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_event_id bigint); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.dispatch_chain_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_event_id bigint) FROM PUBLIC;

--
-- Name: FUNCTION dispatch_dependants(p_org_id uuid, p_changed text[], p_given jsonb, p_trigger jsonb, p_key_prefix text); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.dispatch_dependants(p_org_id uuid, p_changed text[], p_given jsonb, p_trigger jsonb, p_key_prefix text) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.dispatch_dependants(p_org_id uuid, p_changed text[], p_given jsonb, p_trigger jsonb, p_key_prefix text) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.dispatch_dependants(p_org_id uuid, p_changed text[], p_given jsonb, p_trigger jsonb, p_key_prefix text) TO chainlake_runner;

--
-- Name: FUNCTION enqueue(p_org_id uuid, p_job text, p_params jsonb, p_trigger jsonb, p_inputs jsonb, p_idempotency_key text, p_delay_seconds integer); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.enqueue(p_org_id uuid, p_job text, p_params jsonb, p_trigger jsonb, p_inputs jsonb, p_idempotency_key text, p_delay_seconds integer) FROM PUBLIC;

--
-- Name: FUNCTION fail(p_run_id uuid, p_attempt integer, p_error jsonb, p_retryable boolean); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.fail(p_run_id uuid, p_attempt integer, p_error jsonb, p_retryable boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.fail(p_run_id uuid, p_attempt integer, p_error jsonb, p_retryable boolean) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.fail(p_run_id uuid, p_attempt integer, p_error jsonb, p_retryable boolean) TO chainlake_runner;

--
-- Name: FUNCTION given_ranges(p_run runs.runs); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.given_ranges(p_run runs.runs) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.given_ranges(p_run runs.runs) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.given_ranges(p_run runs.runs) TO chainlake_runner;

--
-- Name: FUNCTION heartbeat(p_run_id uuid, p_attempt integer, p_lease_seconds integer); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.heartbeat(p_run_id uuid, p_attempt integer, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.heartbeat(p_run_id uuid, p_attempt integer, p_lease_seconds integer) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.heartbeat(p_run_id uuid, p_attempt integer, p_lease_seconds integer) TO chainlake_runner;

--
-- Name: FUNCTION list(p_org text, p_job text, p_status text, p_trigger text, p_since timestamp with time zone, p_after text, p_limit integer); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.list(p_org text, p_job text, p_status text, p_trigger text, p_since timestamp with time zone, p_after text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.list(p_org text, p_job text, p_status text, p_trigger text, p_since timestamp with time zone, p_after text, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.list(p_org text, p_job text, p_status text, p_trigger text, p_since timestamp with time zone, p_after text, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION list_dead_letters(p_org text, p_after bigint, p_limit integer); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.list_dead_letters(p_org text, p_after bigint, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.list_dead_letters(p_org text, p_after bigint, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.list_dead_letters(p_org text, p_after bigint, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION logs_after(p_run_id text, p_after_seq bigint, p_limit integer); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.logs_after(p_run_id text, p_after_seq bigint, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.logs_after(p_run_id text, p_after_seq bigint, p_limit integer) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.logs_after(p_run_id text, p_after_seq bigint, p_limit integer) TO chainlake_users;

--
-- Name: FUNCTION org_id(p_name text); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.org_id(p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.org_id(p_name text) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.org_id(p_name text) TO chainlake_users;

--
-- Name: FUNCTION overtaken_by(p_run runs.runs); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.overtaken_by(p_run runs.runs) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.overtaken_by(p_run runs.runs) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.overtaken_by(p_run runs.runs) TO chainlake_runner;

--
-- Name: FUNCTION queue_recomputes(p_chain_id bigint, p_from bigint, p_event_id bigint); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.queue_recomputes(p_chain_id bigint, p_from bigint, p_event_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.queue_recomputes(p_chain_id bigint, p_from bigint, p_event_id bigint) TO chainlake_definer;

--
-- Name: FUNCTION record_chain_read(p_run_id uuid, p_attempt integer, p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_first_hash bytea, p_last_hash bytea, p_events_through bigint); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.record_chain_read(p_run_id uuid, p_attempt integer, p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_first_hash bytea, p_last_hash bytea, p_events_through bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.record_chain_read(p_run_id uuid, p_attempt integer, p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_first_hash bytea, p_last_hash bytea, p_events_through bigint) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.record_chain_read(p_run_id uuid, p_attempt integer, p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_first_hash bytea, p_last_hash bytea, p_events_through bigint) TO chainlake_runner;

--
-- Name: FUNCTION record_inputs(p_org_id uuid, p_run_id uuid, p_inputs jsonb); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.record_inputs(p_org_id uuid, p_run_id uuid, p_inputs jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.record_inputs(p_org_id uuid, p_run_id uuid, p_inputs jsonb) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.record_inputs(p_org_id uuid, p_run_id uuid, p_inputs jsonb) TO chainlake_runner;

--
-- Name: FUNCTION record_usage(p_run_id uuid, p_attempt integer, p_runner text, p_cpu_seconds double precision, p_peak_memory_bytes bigint, p_source text); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.record_usage(p_run_id uuid, p_attempt integer, p_runner text, p_cpu_seconds double precision, p_peak_memory_bytes bigint, p_source text) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.record_usage(p_run_id uuid, p_attempt integer, p_runner text, p_cpu_seconds double precision, p_peak_memory_bytes bigint, p_source text) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.record_usage(p_run_id uuid, p_attempt integer, p_runner text, p_cpu_seconds double precision, p_peak_memory_bytes bigint, p_source text) TO chainlake_runner;

--
-- Name: FUNCTION replay(p_letter_id bigint); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.replay(p_letter_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.replay(p_letter_id bigint) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.replay(p_letter_id bigint) TO chainlake_users;

--
-- Name: FUNCTION replay_dead_letter(p_org_id uuid, p_id bigint); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.replay_dead_letter(p_org_id uuid, p_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.replay_dead_letter(p_org_id uuid, p_id bigint) TO chainlake_users;

--
-- Name: FUNCTION request(p_org_id uuid, p_job text, p_params jsonb, p_trigger jsonb, p_inputs jsonb, p_idempotency_key text, p_delay_seconds integer); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.request(p_org_id uuid, p_job text, p_params jsonb, p_trigger jsonb, p_inputs jsonb, p_idempotency_key text, p_delay_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.request(p_org_id uuid, p_job text, p_params jsonb, p_trigger jsonb, p_inputs jsonb, p_idempotency_key text, p_delay_seconds integer) TO chainlake_users;

--
-- Name: FUNCTION rerun(p_run_id uuid); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.rerun(p_run_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.rerun(p_run_id uuid) TO chainlake_users;

--
-- Name: FUNCTION rerun_failed(p_root uuid); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.rerun_failed(p_root uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.rerun_failed(p_root uuid) TO chainlake_users;

--
-- Name: FUNCTION resolve_inputs(p_org_id uuid, p_inputs jsonb); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.resolve_inputs(p_org_id uuid, p_inputs jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.resolve_inputs(p_org_id uuid, p_inputs jsonb) TO chainlake_definer;

--
-- Name: FUNCTION show(p_run_id text); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.show(p_run_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.show(p_run_id text) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.show(p_run_id text) TO chainlake_users;

--
-- Name: FUNCTION start(p_run_id uuid, p_runner text, p_lease_seconds integer); Type: ACL; Schema: runs; Owner: postgres
--

REVOKE ALL ON FUNCTION runs.start(p_run_id uuid, p_runner text, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.start(p_run_id uuid, p_runner text, p_lease_seconds integer) TO chainlake_definer;
GRANT ALL ON FUNCTION runs.start(p_run_id uuid, p_runner text, p_lease_seconds integer) TO chainlake_runner;

--
-- Name: FUNCTION take_tasks(p_limit integer, p_vt integer, p_platform boolean, p_per_org integer, p_busy jsonb); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.take_tasks(p_limit integer, p_vt integer, p_platform boolean, p_per_org integer, p_busy jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.take_tasks(p_limit integer, p_vt integer, p_platform boolean, p_per_org integer, p_busy jsonb) TO chainlake_runner;

--
-- Name: FUNCTION usage(p_org text, p_days integer); Type: ACL; Schema: runs; Owner: chainlake_definer
--

REVOKE ALL ON FUNCTION runs.usage(p_org text, p_days integer) FROM PUBLIC;
GRANT ALL ON FUNCTION runs.usage(p_org text, p_days integer) TO chainlake_users;

--
-- Name: SEQUENCE dead_letters_id_seq; Type: ACL; Schema: runs; Owner: postgres
--

GRANT ALL ON SEQUENCE runs.dead_letters_id_seq TO chainlake_definer;

--
-- Name: SEQUENCE logs_seq_seq; Type: ACL; Schema: runs; Owner: postgres
--

GRANT ALL ON SEQUENCE runs.logs_seq_seq TO chainlake_definer;

--
-- Name: TABLE attempts; Type: ACL; Schema: runs; Owner: postgres
--

GRANT INSERT,DELETE,UPDATE ON TABLE runs.attempts TO chainlake_runner;
GRANT SELECT ON TABLE runs.attempts TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE runs.attempts TO chainlake_definer;

--
-- Name: TABLE chain_inputs; Type: ACL; Schema: runs; Owner: postgres
--

GRANT INSERT,DELETE,UPDATE ON TABLE runs.chain_inputs TO chainlake_runner;
GRANT SELECT ON TABLE runs.chain_inputs TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE runs.chain_inputs TO chainlake_definer;

--
-- Name: TABLE dead_letters; Type: ACL; Schema: runs; Owner: postgres
--

GRANT INSERT,DELETE,UPDATE ON TABLE runs.dead_letters TO chainlake_runner;
GRANT SELECT ON TABLE runs.dead_letters TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE runs.dead_letters TO chainlake_definer;

--
-- Name: TABLE logs; Type: ACL; Schema: runs; Owner: postgres
--

GRANT INSERT,DELETE,UPDATE ON TABLE runs.logs TO chainlake_runner;
GRANT SELECT ON TABLE runs.logs TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE runs.logs TO chainlake_definer;

--
-- Name: TABLE run_inputs; Type: ACL; Schema: runs; Owner: postgres
--



--
GRANT INSERT,DELETE,UPDATE ON TABLE runs.run_inputs TO chainlake_runner;
GRANT SELECT ON TABLE runs.run_inputs TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE runs.run_inputs TO chainlake_definer;

--
-- Name: TABLE runs; Type: ACL; Schema: runs; Owner: postgres
--

GRANT INSERT,DELETE,UPDATE ON TABLE runs.runs TO chainlake_runner;
GRANT SELECT ON TABLE runs.runs TO chainlake_users;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE runs.runs TO chainlake_definer;

--
-- Name: append_log(uuid, integer, jsonb); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.append_log(p_run_id uuid, p_attempt integer, p_events jsonb) RETURNS void
    LANGUAGE sql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    INSERT INTO runs.logs (org_id, run_id, attempt, event)
    SELECT r.org_id, r.id, p_attempt, e
    FROM runs.runs r, jsonb_array_elements(p_events) e
    WHERE r.id = p_run_id
$$;


ALTER FUNCTION runs.append_log(p_run_id uuid, p_attempt integer, p_events jsonb) OWNER TO postgres;

--
-- Name: attempt_outlived(uuid, integer); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.attempt_outlived(p_run_id uuid, p_attempt integer) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT NOT (r.status = 'running' AND r.attempt = p_attempt AND r.lease_until > now())
    FROM runs.runs r WHERE r.id = p_run_id
$$;


ALTER FUNCTION runs.attempt_outlived(p_run_id uuid, p_attempt integer) OWNER TO postgres;

--
-- Name: attempts; Type: ROW SECURITY; Schema: runs; Owner: postgres
--

ALTER TABLE runs.attempts ENABLE ROW LEVEL SECURITY;

--
-- Name: attempts; Type: TABLE; Schema: runs; Owner: postgres
--

CREATE TABLE runs.attempts (
    org_id uuid NOT NULL,
    run_id uuid NOT NULL,
    attempt integer NOT NULL,
    runner text DEFAULT ''::text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    status text DEFAULT 'running'::text NOT NULL,
    error jsonb,
    cpu_seconds double precision,
    peak_memory_bytes bigint,
    usage_source text,
    usage_recorded_at timestamp with time zone,
    CONSTRAINT attempts_usage CHECK ((((cpu_seconds IS NULL) OR (cpu_seconds >= (0)::double precision)) AND ((peak_memory_bytes IS NULL) OR (peak_memory_bytes >= 0))))
);

ALTER TABLE ONLY runs.attempts FORCE ROW LEVEL SECURITY;


ALTER TABLE runs.attempts OWNER TO postgres;

--
-- Name: attempts attempts_org_id_fkey; Type: FK CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.attempts
    ADD CONSTRAINT attempts_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: attempts attempts_pkey; Type: CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.attempts
    ADD CONSTRAINT attempts_pkey PRIMARY KEY (org_id, run_id, attempt);

--
-- Name: attempts members read their orgs rows; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON runs.attempts FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: attempts runners write for the org they act for; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "runners write for the org they act for" ON runs.attempts TO chainlake_runner USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: attempts the platform's definer functions; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON runs.attempts TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: attempts_org_started_idx; Type: INDEX; Schema: runs; Owner: postgres
--

CREATE INDEX attempts_org_started_idx ON runs.attempts USING btree (org_id, started_at);

--
-- Name: backfill(uuid, text, text, text); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.backfill(p_org_id uuid, p_dataset text, p_from text, p_to text) RETURNS TABLE(backfill_id uuid, runs integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    def jobs.definitions;
    part record;
    id uuid := gen_random_uuid();
    queued integer := 0;
BEGIN
    IF NOT core.caller_may_write(p_org_id) THEN
        RAISE EXCEPTION 'you may not run jobs in this org' USING ERRCODE = '42501';
    END IF;
    def := jobs.producer(p_org_id, p_dataset);
    PERFORM runs.check_queue_quota(p_org_id, (
        SELECT count(*)::integer FROM catalog.partition_keys(def.spec -> 'partitions', p_from, p_to)));
    FOR part IN SELECT * FROM catalog.partition_keys(def.spec -> 'partitions', p_from, p_to) LOOP
        PERFORM runs.enqueue(p_org_id, def.name,
            jsonb_build_object('partition', part.key, 'from', part.lo, 'to', part.hi),
            jsonb_build_object('kind', 'backfill', 'backfill', id, 'dataset', p_dataset),
            '[]'::jsonb, format('backfill:%s:%s', id, part.key));
        queued := queued + 1;
    END LOOP;
    PERFORM audit.record(p_org_id, 'asset.backfill', p_dataset,
                         jsonb_build_object('from', p_from, 'to', p_to, 'runs', queued));
    RETURN QUERY SELECT id, queued;
END
$$;


ALTER FUNCTION runs.backfill(p_org_id uuid, p_dataset text, p_from text, p_to text) OWNER TO chainlake_definer;

--
-- Name: backfill_progress(text); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.backfill_progress(p_backfill_id text) RETURNS TABLE(status text, runs bigint)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT r.status, count(*) FROM runs.runs r
    WHERE r.trigger ->> 'backfill' = p_backfill_id GROUP BY r.status ORDER BY r.status
$$;


ALTER FUNCTION runs.backfill_progress(p_backfill_id text) OWNER TO postgres;

--
-- Name: cancel(text); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.cancel(p_run_id text) RETURNS runs.runs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    r runs.runs;
BEGIN
    SELECT * INTO r FROM runs.runs WHERE id = core.try_uuid(p_run_id) FOR UPDATE;
    IF NOT FOUND OR NOT core.caller_may_write(r.org_id) THEN
        RAISE EXCEPTION 'unknown run %', p_run_id USING ERRCODE = '42704',
            HINT = 'list runs with `chainlake run list`';
    END IF;
    IF r.status NOT IN ('queued', 'retrying', 'running') THEN
        RAISE EXCEPTION 'run % is already %', r.id, r.status USING ERRCODE = '55000';
    END IF;
    UPDATE runs.runs SET status = 'cancelled', finished_at = now(),
           error = jsonb_build_object('type', 'Cancelled', 'message', 'cancelled by a person')
    WHERE org_id = r.org_id AND id = r.id RETURNING * INTO r;
    UPDATE runs.attempts SET status = 'cancelled', finished_at = now()
    WHERE org_id = r.org_id AND run_id = r.id AND status = 'running';
    IF r.msg_id IS NOT NULL THEN
        PERFORM pgmq.archive('run_tasks', r.msg_id);
    END IF;
    PERFORM audit.record(r.org_id, 'run.cancel', r.job_name, jsonb_build_object('run_id', r.id));
    RETURN r;
END
$$;


ALTER FUNCTION runs.cancel(p_run_id text) OWNER TO chainlake_definer;

--
-- Name: chain_inputs; Type: ROW SECURITY; Schema: runs; Owner: postgres
--

ALTER TABLE runs.chain_inputs ENABLE ROW LEVEL SECURITY;

--
-- Name: chain_inputs; Type: TABLE; Schema: runs; Owner: postgres
--

CREATE TABLE runs.chain_inputs (
    org_id uuid NOT NULL,
    run_id uuid NOT NULL,
    attempt integer NOT NULL,
    dataset text NOT NULL,
    chain_id bigint NOT NULL,
    from_block bigint NOT NULL,
    to_block bigint NOT NULL,
    first_hash bytea,
    last_hash bytea,
    events_through bigint,
    read_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT chain_inputs_range CHECK ((from_block <= to_block))
);

ALTER TABLE ONLY runs.chain_inputs FORCE ROW LEVEL SECURITY;


ALTER TABLE runs.chain_inputs OWNER TO postgres;

--
-- Name: chain_inputs chain_inputs_org_id_fkey; Type: FK CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.chain_inputs
    ADD CONSTRAINT chain_inputs_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: chain_inputs chain_inputs_pkey; Type: CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.chain_inputs
    ADD CONSTRAINT chain_inputs_pkey PRIMARY KEY (org_id, run_id, attempt, dataset);

--
-- Name: chain_inputs members read their orgs rows; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON runs.chain_inputs FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: chain_inputs runners write for the org they act for; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "runners write for the org they act for" ON runs.chain_inputs TO chainlake_runner USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: chain_inputs the platform's definer functions; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON runs.chain_inputs TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: chain_inputs_of(text[], bigint, bigint, bigint); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.chain_inputs_of(p_datasets text[], p_chain_id bigint, p_from bigint, p_to bigint) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT jsonb_agg(jsonb_build_object('dataset', ds, 'chain_id', p_chain_id,
                                        'from_block', p_from, 'to_block', p_to, 'format', 'jsonl'))
    FROM unnest(p_datasets) ds
    WHERE ds IN ('chain.blocks', 'chain.transactions', 'chain.logs')
$$;


ALTER FUNCTION runs.chain_inputs_of(p_datasets text[], p_chain_id bigint, p_from bigint, p_to bigint) OWNER TO postgres;

--
-- Name: chain_jobs(bigint); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.chain_jobs(p_chain_id bigint) RETURNS TABLE(org_id uuid, name text, input_datasets text[], gap_text text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT c.org_id, c.name, c.input_datasets, c.gap_text FROM (
        SELECT DISTINCT ON (d.org_id, d.name) d.org_id, d.name, d.kind, d.input_datasets,
               d.spec -> 'chain_input' ->> 'min_interval_seconds' AS gap_text,
               d.spec -> 'chain_input' -> 'chain_ids' AS chain_ids
        FROM jobs.definitions d ORDER BY d.org_id, d.name, d.applied_at DESC) c
    WHERE c.kind = 'reactive'
      AND c.input_datasets && ARRAY['chain.blocks', 'chain.transactions', 'chain.logs']
      AND (c.chain_ids IS NULL OR c.chain_ids @> to_jsonb(p_chain_id))
$$;


ALTER FUNCTION runs.chain_jobs(p_chain_id bigint) OWNER TO postgres;

--
-- Name: check_cpu_quota(uuid); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.check_cpu_quota(p_org_id uuid) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    allowed double precision := (SELECT cpu_seconds_per_day FROM core.quotas
                                 WHERE org_id = p_org_id);
    used double precision;
BEGIN
    IF allowed IS NULL OR session_user::text IN ('chainlake_runner', 'chainlake_ingest') THEN
        RETURN;
    END IF;
    SELECT coalesce(sum(cpu_seconds), 0) INTO used FROM runs.attempts
    WHERE org_id = p_org_id AND started_at >= (now() AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC';
    IF used > allowed THEN
        RAISE EXCEPTION 'CPU quota: the org used % CPU seconds today (UTC), over its cpu_seconds_per_day quota of %',
            round(used::numeric, 1), allowed
            USING ERRCODE = '53400',
            HINT = 'wait for tomorrow (UTC), or ask the operator for a higher cpu_seconds_per_day quota';
    END IF;
END
$$;


ALTER FUNCTION runs.check_cpu_quota(p_org_id uuid) OWNER TO chainlake_definer;

--
-- Name: check_queue_quota(uuid, integer); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.check_queue_quota(p_org_id uuid, p_adding integer DEFAULT 1) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    allowed integer := coalesce((SELECT max_queued_tasks FROM core.quotas
                                 WHERE org_id = p_org_id), 100000);
    waiting integer;
BEGIN
    IF session_user::text IN ('chainlake_runner', 'chainlake_ingest') THEN
        RETURN;
    END IF;
    PERFORM core.lock_until_commit('runs.queue', p_org_id);
    SELECT count(*) INTO waiting FROM (
        SELECT 1 FROM runs.runs
        WHERE org_id = p_org_id AND status IN ('queued', 'retrying')
        LIMIT allowed) w;
    IF waiting + coalesce(p_adding, 0) > allowed THEN
        RAISE EXCEPTION 'queue quota: the org has % of % runs waiting; this would queue % more',
            waiting, allowed, p_adding
            USING ERRCODE = '53400', DETAIL = 'retry_after=5',
            HINT = 'let the queue drain, or ask the operator for a higher max_queued_tasks quota';
    END IF;
END
$$;


ALTER FUNCTION runs.check_queue_quota(p_org_id uuid, p_adding integer) OWNER TO chainlake_definer;

--
-- Name: complete(uuid, integer, jsonb, jsonb); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.complete(p_run_id uuid, p_attempt integer, p_outputs jsonb, p_metadata jsonb DEFAULT '{}'::jsonb) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    r runs.runs;
    output jsonb;
    recorded record;
    recorded_outputs jsonb := '[]';
    changed text[] := '{}';
    duration_ms bigint;
    refused text;
BEGIN
    SELECT * INTO r FROM runs.runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND OR r.status <> 'running' OR r.attempt <> p_attempt THEN
        RETURN false;
    END IF;
    -- no invalidation of the chains the run was built from commits while its outputs are checked
    -- and recorded (sql/chain/70_chain.sql); each statement after this sees one that came before
    PERFORM chain.hold_steady(ARRAY(SELECT g.chain_id FROM runs.given_ranges(r) g
                                    WHERE g.chain_id IS NOT NULL));
    -- a partition that is not the block range it was given, or that overlaps a current one it
    -- was not asked to replace, fails the run and records nothing (sql/catalog/58_supersession.sql)
    refused := catalog.output_problem(r, p_outputs);
    IF refused IS NOT NULL THEN
        PERFORM runs.fail(p_run_id, p_attempt,
                          jsonb_build_object('type', 'PartitionRejected', 'message', refused), false);
        RETURN false;
    END IF;
    duration_ms := (extract(epoch FROM now() - coalesce(r.started_at, now())) * 1000)::bigint;
    PERFORM runs.record_inputs(r.org_id, r.id, r.inputs);
    FOR output IN SELECT * FROM jsonb_array_elements(coalesce(p_outputs, '[]')) LOOP
        SELECT * INTO recorded FROM catalog.record_output(r.org_id, r.id, output, duration_ms);
        recorded_outputs := recorded_outputs || jsonb_build_array((output - 'manifest')
            || jsonb_build_object('version', recorded.version, 'new', recorded.is_new));
        IF recorded.current_changed THEN
            changed := changed || (output ->> 'dataset');
        END IF;
    END LOOP;
    UPDATE runs.runs SET status = 'succeeded', outputs = recorded_outputs,
                         metadata = coalesce(p_metadata, '{}'), error = NULL, finished_at = now()
    WHERE org_id = r.org_id AND id = r.id;
    UPDATE runs.attempts SET status = 'succeeded', finished_at = now()
    WHERE org_id = r.org_id AND run_id = r.id AND attempt = p_attempt;
    PERFORM runs.dispatch_dependants(
        r.org_id, changed, recorded_outputs,
        jsonb_build_object('kind', 'reactive', 'upstream_run', r.id, 'upstream_job', r.job_name,
                           'root_run', coalesce(r.trigger ->> 'root_run', r.id::text)),
        format('reactive:%s', r.id));
    PERFORM catalog.release_validated(r);  -- a validator passed a version: its dependants run
    IF r.msg_id IS NOT NULL THEN
        PERFORM pgmq.archive('run_tasks', r.msg_id);
    END IF;
    RETURN true;
END
$$;


ALTER FUNCTION runs.complete(p_run_id uuid, p_attempt integer, p_outputs jsonb, p_metadata jsonb) OWNER TO postgres;

--
-- Name: dead_letter(runs.runs, jsonb); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.dead_letter(r runs.runs, p_error jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    UPDATE runs.runs SET status = 'dead', error = p_error, finished_at = now()
    WHERE org_id = r.org_id AND id = r.id;
    UPDATE runs.attempts SET status = 'lost', finished_at = now()
    WHERE org_id = r.org_id AND run_id = r.id AND status = 'running';
    INSERT INTO runs.dead_letters (org_id, run_id, job_name, attempts, error)
    VALUES (r.org_id, r.id, r.job_name, r.attempt, p_error);
    IF r.msg_id IS NOT NULL THEN
        PERFORM pgmq.archive('run_tasks', r.msg_id);
    END IF;
END
$$;


ALTER FUNCTION runs.dead_letter(r runs.runs, p_error jsonb) OWNER TO postgres;

--
-- Name: dead_letters; Type: ROW SECURITY; Schema: runs; Owner: postgres
--

ALTER TABLE runs.dead_letters ENABLE ROW LEVEL SECURITY;

--
-- Name: dead_letters; Type: TABLE; Schema: runs; Owner: postgres
--

CREATE TABLE runs.dead_letters (
    org_id uuid NOT NULL,
    id bigint NOT NULL,
    run_id uuid NOT NULL,
    job_name text NOT NULL,
    attempts integer NOT NULL,
    error jsonb,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    replayed_at timestamp with time zone,
    replay_run_id uuid
);

ALTER TABLE ONLY runs.dead_letters FORCE ROW LEVEL SECURITY;


ALTER TABLE runs.dead_letters OWNER TO postgres;

--
-- Name: dead_letters dead_letters_org_id_fkey; Type: FK CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.dead_letters
    ADD CONSTRAINT dead_letters_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: dead_letters dead_letters_pkey; Type: CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.dead_letters
    ADD CONSTRAINT dead_letters_pkey PRIMARY KEY (org_id, id);

--
-- Name: dead_letters members read their orgs rows; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON runs.dead_letters FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: dead_letters runners write for the org they act for; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "runners write for the org they act for" ON runs.dead_letters TO chainlake_runner USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: dead_letters the platform's definer functions; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON runs.dead_letters TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: dead_letters_id_seq; Type: SEQUENCE; Schema: runs; Owner: postgres
--

ALTER TABLE runs.dead_letters ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME runs.dead_letters_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: dispatch_chain_batch(bigint, bigint, bigint, bigint); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.dispatch_chain_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_event_id bigint) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    d record;
    pending runs.runs;
    last_to bigint;
    first bigint;
    last_at timestamptz;
    gap float8;
    queued integer := 0;
BEGIN
    FOR d IN SELECT * FROM runs.chain_jobs(p_chain_id) LOOP
      -- one job's trouble (a definition applied without the schema's checks) never stops the
      -- ingest batch that called us: it is skipped, with a warning in the server log
      BEGIN
        gap := coalesce(d.gap_text::float8, 0);
        -- (a run planned before a reorg of its blocks is not widened: its output will not
        -- become current, and the recompute the reorg queued covers its range)
        SELECT * INTO pending FROM runs.runs q
        WHERE q.org_id = d.org_id AND q.job_name = d.name AND q.status = 'queued'
          AND q.trigger ->> 'kind' = 'chain' AND (q.trigger ->> 'chain_id')::bigint = p_chain_id
          AND runs.overtaken_by(q) IS NULL
        ORDER BY q.created_at DESC LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            UPDATE runs.runs SET inputs = (
                SELECT jsonb_agg(i || jsonb_build_object(
                    'from_block', least((i ->> 'from_block')::bigint, p_from),
                    'to_block', p_to))
                FROM jsonb_array_elements(pending.inputs) i),
                trigger = trigger || jsonb_build_object('event', p_event_id)
            WHERE org_id = pending.org_id AND id = pending.id;
            CONTINUE;
        END IF;
        -- what the job was last given (a dead-lettered range comes back by replaying it)
        SELECT (r.inputs -> 0 ->> 'to_block')::bigint, r.created_at INTO last_to, last_at
        FROM runs.runs r
        WHERE r.org_id = d.org_id AND r.job_name = d.name AND r.trigger ->> 'kind' = 'chain'
          AND (r.trigger ->> 'chain_id')::bigint = p_chain_id
        ORDER BY r.created_at DESC LIMIT 1;
        first := least(coalesce(last_to + 1, p_from), p_from);
        PERFORM runs.enqueue(
            d.org_id, d.name, '{}'::jsonb,
            jsonb_build_object('kind', 'chain', 'chain_id', p_chain_id, 'event', p_event_id),
            runs.chain_inputs_of(d.input_datasets, p_chain_id, first, p_to),
            format('chain:%s:%s:%s', p_chain_id, d.name, p_event_id),
            -- at most one run per min_interval_seconds: wait out the rest of the interval
            CASE WHEN last_at IS NULL THEN 0
                 ELSE ceil(greatest(0, least(gap, 86400)
                                       - extract(epoch FROM now() - last_at)))::integer END);
        queued := queued + 1;
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'chain batch %..% of chain %: job % of org % skipped: %', p_from, p_to,
            p_chain_id, d.name, d.org_id, SQLERRM;
      END;
    END LOOP;
    RETURN queued;
END
$$;


ALTER FUNCTION runs.dispatch_chain_batch(p_chain_id bigint, p_from bigint, p_to bigint, p_event_id bigint) OWNER TO chainlake_definer;

--
-- Name: dispatch_dependants(uuid, text[], jsonb, jsonb, text); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.dispatch_dependants(p_org_id uuid, p_changed text[], p_given jsonb, p_trigger jsonb, p_key_prefix text) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    dependant record;
    queued integer := 0;
BEGIN
    FOR dependant IN
        SELECT d.name,
               (SELECT coalesce(jsonb_agg(given), '[]') FROM (
                    SELECT coalesce(
                        (SELECT g FROM jsonb_array_elements(p_given) g
                         WHERE g ->> 'dataset' = wanted LIMIT 1),
                        catalog.version_as_input(p_org_id, wanted,
                            catalog.propagated_version(p_org_id, wanted))) AS given
                    FROM unnest(d.input_datasets) wanted) inputs_now
                WHERE given IS NOT NULL) AS inputs
        FROM jobs.current_definitions(p_org_id) d
        WHERE d.kind = 'reactive' AND d.input_datasets && p_changed
          AND catalog.may_dispatch(p_org_id, d, p_changed, p_given, p_trigger)  -- validation gates
    LOOP
        PERFORM runs.request(p_org_id, dependant.name, '{}'::jsonb, p_trigger, dependant.inputs,
                             format('%s:%s', p_key_prefix, dependant.name));
        queued := queued + 1;
    END LOOP;
    RETURN queued;
END
$$;


ALTER FUNCTION runs.dispatch_dependants(p_org_id uuid, p_changed text[], p_given jsonb, p_trigger jsonb, p_key_prefix text) OWNER TO postgres;

--
-- Name: enqueue(uuid, text, jsonb, jsonb, jsonb, text, integer); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.enqueue(p_org_id uuid, p_job text, p_params jsonb, p_trigger jsonb, p_inputs jsonb, p_idempotency_key text, p_delay_seconds integer DEFAULT 0) RETURNS runs.runs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    def jobs.definitions;
    created runs.runs;
    msg bigint;
BEGIN
    def := jobs.current_definition(p_org_id, p_job);
    IF def.id IS NULL THEN
        RAISE EXCEPTION 'unknown job "%"', p_job USING ERRCODE = '42704',
            HINT = 'apply its definition with `chainlake job apply FILE`';
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        SELECT * INTO created FROM runs.runs
        WHERE org_id = p_org_id AND idempotency_key = p_idempotency_key;
        IF FOUND THEN
            RETURN created;
        END IF;
    END IF;
    INSERT INTO runs.runs (org_id, job_name, job_version, definition_id, params, trigger, config,
                           inputs, max_attempts, idempotency_key, initiated_by)
    VALUES (p_org_id, def.name, def.version, def.id, coalesce(p_params, '{}'),
            coalesce(p_trigger, '{}'), coalesce(def.spec -> 'config', '{}'),
            coalesce(p_inputs, '[]'),
            coalesce((def.spec -> 'retries' ->> 'max_attempts')::integer, 3),
            p_idempotency_key, core.caller_user_id())
    ON CONFLICT ON CONSTRAINT runs_idempotency_key DO NOTHING
    RETURNING * INTO created;
    IF created.id IS NULL THEN  -- a concurrent request with the same key won
        SELECT * INTO created FROM runs.runs
        WHERE org_id = p_org_id AND idempotency_key = p_idempotency_key;
        RETURN created;
    END IF;
    msg := pgmq.send('run_tasks', jsonb_build_object('run_id', created.id, 'org_id', p_org_id),
                     jsonb_build_object('x-chainlake-org', p_org_id), greatest(p_delay_seconds, 0));
    UPDATE runs.runs SET msg_id = msg WHERE org_id = p_org_id AND id = created.id
    RETURNING * INTO created;
    RETURN created;
END
$$;


ALTER FUNCTION runs.enqueue(p_org_id uuid, p_job text, p_params jsonb, p_trigger jsonb, p_inputs jsonb, p_idempotency_key text, p_delay_seconds integer) OWNER TO chainlake_definer;

--
-- Name: fail(uuid, integer, jsonb, boolean); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.fail(p_run_id uuid, p_attempt integer, p_error jsonb, p_retryable boolean DEFAULT true) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    r runs.runs;
    def jobs.definitions;
    base_s double precision;
    cap_s double precision;
    delay_s integer;
BEGIN
    SELECT * INTO r FROM runs.runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND OR r.status <> 'running' OR r.attempt <> p_attempt THEN
        RETURN 'stale';
    END IF;
    UPDATE runs.attempts SET status = 'failed', finished_at = now(), error = p_error
    WHERE org_id = r.org_id AND run_id = r.id AND attempt = p_attempt;
    IF NOT p_retryable OR r.attempt >= r.max_attempts THEN
        PERFORM runs.dead_letter(r, p_error);
        RETURN 'dead';
    END IF;
    SELECT * INTO def FROM jobs.definitions WHERE org_id = r.org_id AND id = r.definition_id;
    base_s := coalesce((def.spec -> 'retries' ->> 'backoff_seconds')::double precision, 1);
    cap_s := coalesce((def.spec -> 'retries' ->> 'max_backoff_seconds')::double precision, 300);
    delay_s := ceil(random() * least(cap_s, base_s * 2 ^ (r.attempt - 1)))::integer;
    UPDATE runs.runs SET status = 'retrying', error = p_error
    WHERE org_id = r.org_id AND id = r.id;
    IF r.msg_id IS NOT NULL THEN
        PERFORM pgmq.set_vt('run_tasks', r.msg_id, delay_s);
    END IF;
    RETURN 'retrying';
END
$$;


ALTER FUNCTION runs.fail(p_run_id uuid, p_attempt integer, p_error jsonb, p_retryable boolean) OWNER TO postgres;

--
-- Name: given_ranges(runs.runs); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.given_ranges(p_run runs.runs) RETURNS TABLE(chain_id bigint, blocks int8range)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT (i ->> 'chain_id')::bigint,
           int8range(min((i ->> 'from_block')::bigint), max((i ->> 'to_block')::bigint), '[]')
    FROM jsonb_array_elements(p_run.inputs) i
    WHERE i ? 'chain_id'
    GROUP BY 1
    UNION
    SELECT NULL, catalog.range_of_key((p_run.params ->> 'from') || '-' || (p_run.params ->> 'to'))
    WHERE p_run.params ? 'partition'
      AND catalog.range_of_key((p_run.params ->> 'from') || '-' || (p_run.params ->> 'to')) IS NOT NULL
    UNION
    SELECT v.chain_id, v.blocks
    FROM jsonb_array_elements(p_run.inputs) i
    JOIN catalog.datasets d ON d.org_id = p_run.org_id AND d.name = i ->> 'dataset'
    JOIN catalog.asset_versions v
      ON v.org_id = d.org_id AND v.dataset_id = d.id AND v.version = core.try_int(i ->> 'version')
    WHERE v.blocks IS NOT NULL
$$;


ALTER FUNCTION runs.given_ranges(p_run runs.runs) OWNER TO postgres;

--
-- Name: heartbeat(uuid, integer, integer); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.heartbeat(p_run_id uuid, p_attempt integer, p_lease_seconds integer) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    r runs.runs;
BEGIN
    UPDATE runs.runs SET lease_until = now() + p_lease_seconds * interval '1 second'
    WHERE id = p_run_id AND status = 'running' AND attempt = p_attempt
    RETURNING * INTO r;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF r.msg_id IS NOT NULL THEN
        PERFORM pgmq.set_vt('run_tasks', r.msg_id, p_lease_seconds);
    END IF;
    RETURN true;
END
$$;


ALTER FUNCTION runs.heartbeat(p_run_id uuid, p_attempt integer, p_lease_seconds integer) OWNER TO postgres;

--
-- Name: list(text, text, text, text, timestamp with time zone, text, integer); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.list(p_org text DEFAULT NULL::text, p_job text DEFAULT NULL::text, p_status text DEFAULT NULL::text, p_trigger text DEFAULT NULL::text, p_since timestamp with time zone DEFAULT NULL::timestamp with time zone, p_after text DEFAULT NULL::text, p_limit integer DEFAULT 50) RETURNS TABLE(id uuid, org text, job_name text, job_version text, status text, attempt integer, trigger text, created_at timestamp with time zone, finished_at timestamp with time zone)
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    last_at timestamptz;
    last_id uuid;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
        RAISE EXCEPTION 'limit: % is not between 1 and 1000', p_limit USING ERRCODE = '22023';
    END IF;
    IF p_after IS NOT NULL THEN
        SELECT r.created_at, r.id INTO last_at, last_id FROM runs.runs r
        WHERE r.id = core.try_uuid(p_after);
        IF last_id IS NULL THEN
            RAISE EXCEPTION 'after: % is not a run of yours', p_after USING ERRCODE = 'P0002',
                HINT = 'pass the `next` of the previous page';
        END IF;
    END IF;
    RETURN QUERY
    SELECT r.id, o.name, r.job_name, r.job_version, r.status, r.attempt, r.trigger ->> 'kind',
           r.created_at, r.finished_at
    FROM runs.runs r JOIN core.orgs o ON o.id = r.org_id
    WHERE (p_org IS NULL OR o.name = p_org) AND (p_job IS NULL OR r.job_name = p_job)
      AND (p_status IS NULL OR r.status = p_status)
      AND (p_trigger IS NULL OR r.trigger ->> 'kind' = p_trigger)
      AND (p_since IS NULL OR r.created_at >= p_since)
      AND (last_id IS NULL OR (r.created_at, r.id) < (last_at, last_id))
    ORDER BY r.created_at DESC, r.id DESC
    LIMIT p_limit;
END
$$;


ALTER FUNCTION runs.list(p_org text, p_job text, p_status text, p_trigger text, p_since timestamp with time zone, p_after text, p_limit integer) OWNER TO postgres;

--
-- Name: list_dead_letters(text, bigint, integer); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.list_dead_letters(p_org text DEFAULT NULL::text, p_after bigint DEFAULT NULL::bigint, p_limit integer DEFAULT 100) RETURNS TABLE(id bigint, org text, run_id uuid, job_name text, attempts integer, error_type text, error text, created_at timestamp with time zone, replay_run_id uuid)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT d.id, o.name, d.run_id, d.job_name, d.attempts, d.error ->> 'type',
           d.error ->> 'message', d.created_at, d.replay_run_id
    FROM runs.dead_letters d JOIN core.orgs o ON o.id = d.org_id
    WHERE (p_org IS NULL OR o.name = p_org) AND (p_after IS NULL OR d.id < p_after)
    ORDER BY d.id DESC LIMIT least(greatest(coalesce(p_limit, 100), 1), 1000)
$$;


ALTER FUNCTION runs.list_dead_letters(p_org text, p_after bigint, p_limit integer) OWNER TO postgres;

--
-- Name: logs; Type: ROW SECURITY; Schema: runs; Owner: postgres
--

ALTER TABLE runs.logs ENABLE ROW LEVEL SECURITY;

--
-- Name: logs; Type: TABLE; Schema: runs; Owner: postgres
--

CREATE TABLE runs.logs (
    org_id uuid NOT NULL,
    run_id uuid NOT NULL,
    seq bigint NOT NULL,
    attempt integer NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    event jsonb NOT NULL
);

ALTER TABLE ONLY runs.logs FORCE ROW LEVEL SECURITY;


ALTER TABLE runs.logs OWNER TO postgres;

--
-- Name: logs logs_org_id_fkey; Type: FK CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.logs
    ADD CONSTRAINT logs_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: logs logs_pkey; Type: CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.logs
    ADD CONSTRAINT logs_pkey PRIMARY KEY (org_id, run_id, seq);

--
-- Name: logs members read their orgs rows; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON runs.logs FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: logs runners write for the org they act for; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "runners write for the org they act for" ON runs.logs TO chainlake_runner USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: logs the platform's definer functions; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON runs.logs TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: logs_after(text, bigint, integer); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.logs_after(p_run_id text, p_after_seq bigint DEFAULT 0, p_limit integer DEFAULT 1000) RETURNS TABLE(seq bigint, attempt integer, at timestamp with time zone, event jsonb, run_status text)
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    r runs.runs;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'limit: % is not between 1 and 10000', p_limit USING ERRCODE = '22023';
    END IF;
    SELECT * INTO r FROM runs.runs WHERE id = core.try_uuid(p_run_id);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown run %', p_run_id USING ERRCODE = '42704',
            HINT = 'list runs with `chainlake run list`';
    END IF;
    RETURN QUERY
    SELECT l.seq, l.attempt, l.at, l.event, r.status FROM runs.logs l
    WHERE l.org_id = r.org_id AND l.run_id = r.id AND l.seq > coalesce(p_after_seq, 0)
    ORDER BY l.seq LIMIT p_limit;
    IF NOT FOUND THEN  -- no event: still say the run's status
        RETURN QUERY SELECT NULL::bigint, NULL::integer, NULL::timestamptz, NULL::jsonb, r.status;
    END IF;
END
$$;


ALTER FUNCTION runs.logs_after(p_run_id text, p_after_seq bigint, p_limit integer) OWNER TO postgres;

--
-- Name: logs_seq_seq; Type: SEQUENCE; Schema: runs; Owner: postgres
--

ALTER TABLE runs.logs ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME runs.logs_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: org_id(text); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.org_id(p_name text) RETURNS uuid
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    found uuid;
BEGIN
    SELECT id INTO found FROM core.orgs WHERE name = p_name;
    IF found IS NULL THEN
        RAISE EXCEPTION 'unknown org "%"', p_name USING ERRCODE = '42704',
            HINT = 'list your orgs with `chainlake org list`';
    END IF;
    RETURN found;
END
$$;


ALTER FUNCTION runs.org_id(p_name text) OWNER TO postgres;

--
-- Name: overtaken_by(runs.runs); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.overtaken_by(p_run runs.runs) RETURNS bigint
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT min(found.event) FROM (
        SELECT e.id AS event
        FROM jsonb_array_elements(p_run.inputs) i
        LEFT JOIN runs.chain_inputs ci
          ON ci.org_id = p_run.org_id AND ci.run_id = p_run.id AND ci.attempt = p_run.attempt
         AND ci.dataset = i ->> 'dataset'
        JOIN chain.events e
          ON e.chain_id = (i ->> 'chain_id')::bigint AND e.kind = 'invalidated'
         AND e.from_block <= (i ->> 'to_block')::bigint AND e.to_block >= (i ->> 'from_block')::bigint
         AND e.id > least(ci.events_through, CASE WHEN p_run.trigger ->> 'kind' = 'chain'
                                                  THEN (p_run.trigger ->> 'event')::bigint END)
        WHERE i ? 'chain_id'
        UNION ALL
        SELECT v.superseded_by_event
        FROM jsonb_array_elements(p_run.inputs) i
        JOIN catalog.datasets d ON d.org_id = p_run.org_id AND d.name = i ->> 'dataset'
        JOIN catalog.asset_versions v
          ON v.org_id = d.org_id AND v.dataset_id = d.id AND v.version = core.try_int(i ->> 'version')
        WHERE v.superseded_reason = 'reorg'
    ) found
$$;


ALTER FUNCTION runs.overtaken_by(p_run runs.runs) OWNER TO postgres;

--
-- Name: queue_recomputes(bigint, bigint, bigint); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.queue_recomputes(p_chain_id bigint, p_from bigint, p_event_id bigint) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    job record;
    first bigint;
    queued integer := 0;
BEGIN
    FOR job IN SELECT * FROM runs.chain_jobs(p_chain_id) LOOP
      BEGIN  -- one job's trouble never stops the rewind that called us (see dispatch_chain_batch)
        SELECT least(p_from,
                     (SELECT min(lower(v.blocks)) FROM catalog.asset_versions v
                      JOIN runs.runs r ON r.org_id = v.org_id AND r.id = v.run_id
                      WHERE v.org_id = job.org_id AND v.superseded_by_event = p_event_id
                        AND r.job_name = job.name),
                     (SELECT min((r.inputs -> 0 ->> 'from_block')::bigint) FROM runs.runs r
                      WHERE r.org_id = job.org_id AND r.job_name = job.name
                        AND r.status IN ('queued', 'running', 'retrying')
                        AND (r.inputs -> 0 ->> 'chain_id')::bigint = p_chain_id
                        AND (r.inputs -> 0 ->> 'to_block')::bigint >= p_from))
        INTO first;
        CONTINUE WHEN first >= p_from;  -- nothing below the invalidated blocks to redo
        PERFORM runs.enqueue(
            job.org_id, job.name, '{}'::jsonb,
            jsonb_build_object('kind', 'chain', 'chain_id', p_chain_id, 'event', p_event_id,
                               'recompute', true),
            runs.chain_inputs_of(job.input_datasets, p_chain_id, first, p_from - 1),
            format('recompute:%s:%s:%s', p_chain_id, job.name, p_event_id));
        queued := queued + 1;
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'recompute of chain % from block %: job % of org % skipped: %', p_chain_id,
            p_from, job.name, job.org_id, SQLERRM;
      END;
    END LOOP;
    RETURN queued;
END
$$;


ALTER FUNCTION runs.queue_recomputes(p_chain_id bigint, p_from bigint, p_event_id bigint) OWNER TO postgres;

--
-- Name: record_chain_read(uuid, integer, text, bigint, bigint, bigint, bytea, bytea, bigint); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.record_chain_read(p_run_id uuid, p_attempt integer, p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_first_hash bytea, p_last_hash bytea, p_events_through bigint) RETURNS void
    LANGUAGE sql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    INSERT INTO runs.chain_inputs (org_id, run_id, attempt, dataset, chain_id, from_block, to_block,
                                   first_hash, last_hash, events_through)
    SELECT r.org_id, r.id, p_attempt, p_dataset, p_chain_id, p_from, p_to, p_first_hash,
           p_last_hash, p_events_through
    FROM runs.runs r WHERE r.id = p_run_id AND r.status = 'running' AND r.attempt = p_attempt
    ON CONFLICT (org_id, run_id, attempt, dataset) DO UPDATE
        SET chain_id = excluded.chain_id, from_block = excluded.from_block,
            to_block = excluded.to_block, first_hash = excluded.first_hash,
            last_hash = excluded.last_hash, events_through = excluded.events_through,
            read_at = now()
$$;


ALTER FUNCTION runs.record_chain_read(p_run_id uuid, p_attempt integer, p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_first_hash bytea, p_last_hash bytea, p_events_through bigint) OWNER TO postgres;

--
-- Name: record_inputs(uuid, uuid, jsonb); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.record_inputs(p_org_id uuid, p_run_id uuid, p_inputs jsonb) RETURNS void
    LANGUAGE sql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    INSERT INTO runs.run_inputs (org_id, run_id, dataset_id, version)
    SELECT p_org_id, p_run_id, d.id, (i ->> 'version')::integer
    FROM jsonb_array_elements(coalesce(p_inputs, '[]')) i
    JOIN catalog.datasets d ON d.org_id = p_org_id AND d.name = i ->> 'dataset'
    WHERE i ->> 'version' IS NOT NULL
    ON CONFLICT DO NOTHING
$$;


ALTER FUNCTION runs.record_inputs(p_org_id uuid, p_run_id uuid, p_inputs jsonb) OWNER TO postgres;

--
-- Name: record_usage(uuid, integer, text, double precision, bigint, text); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.record_usage(p_run_id uuid, p_attempt integer, p_runner text, p_cpu_seconds double precision, p_peak_memory_bytes bigint, p_source text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    a runs.attempts;
BEGIN
    SELECT t.* INTO a FROM runs.attempts t JOIN runs.runs r ON r.org_id = t.org_id AND r.id = t.run_id
    WHERE t.run_id = p_run_id AND t.attempt = p_attempt AND t.runner = p_runner
      AND r.status = 'running' AND r.attempt = p_attempt AND r.lease_until > now()
    FOR UPDATE OF t;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF a.usage_recorded_at IS NOT NULL THEN
        RAISE EXCEPTION 'the usage of attempt % of run % is recorded already', p_attempt, p_run_id
            USING ERRCODE = '23505', HINT = 'an attempt''s usage is recorded once';
    END IF;
    UPDATE runs.attempts SET cpu_seconds = p_cpu_seconds, peak_memory_bytes = p_peak_memory_bytes,
                             usage_source = p_source, usage_recorded_at = now()
    WHERE org_id = a.org_id AND run_id = a.run_id AND attempt = a.attempt;
    RETURN true;
END
$$;


ALTER FUNCTION runs.record_usage(p_run_id uuid, p_attempt integer, p_runner text, p_cpu_seconds double precision, p_peak_memory_bytes bigint, p_source text) OWNER TO postgres;

--
-- Name: replay(bigint); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.replay(p_letter_id bigint) RETURNS runs.runs
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    org uuid := (SELECT d.org_id FROM runs.dead_letters d WHERE d.id = p_letter_id);
BEGIN
    IF org IS NULL THEN
        RAISE EXCEPTION 'unknown dead letter %', p_letter_id USING ERRCODE = '42704',
            HINT = 'list them with `chainlake deadletter list`';
    END IF;
    RETURN runs.replay_dead_letter(org, p_letter_id);
END
$$;


ALTER FUNCTION runs.replay(p_letter_id bigint) OWNER TO postgres;

--
-- Name: replay_dead_letter(uuid, bigint); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.replay_dead_letter(p_org_id uuid, p_id bigint) RETURNS runs.runs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    dl runs.dead_letters;
    old runs.runs;
    created runs.runs;
BEGIN
    IF NOT core.caller_may_write(p_org_id) THEN
        RAISE EXCEPTION 'unknown dead letter %', p_id USING ERRCODE = '42704',
            HINT = 'list them with `chainlake deadletter list`';
    END IF;
    SELECT * INTO dl FROM runs.dead_letters WHERE org_id = p_org_id AND id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown dead letter %', p_id USING ERRCODE = '42704',
            HINT = 'list them with `chainlake deadletter list`';
    END IF;
    IF dl.replayed_at IS NOT NULL THEN
        RAISE EXCEPTION 'dead letter % was already replayed as run %', p_id, dl.replay_run_id
            USING ERRCODE = '23505';
    END IF;
    SELECT * INTO old FROM runs.runs WHERE org_id = p_org_id AND id = dl.run_id;
    created := runs.request(p_org_id, old.job_name, old.params,
                            jsonb_build_object('kind', 'replay', 'dead_letter', p_id,
                                               'replayed_run', old.id),
                            old.inputs);
    UPDATE runs.dead_letters SET replayed_at = now(), replay_run_id = created.id
    WHERE org_id = p_org_id AND id = p_id;
    RETURN created;
END
$$;


ALTER FUNCTION runs.replay_dead_letter(p_org_id uuid, p_id bigint) OWNER TO chainlake_definer;

--
-- Name: request(uuid, text, jsonb, jsonb, jsonb, text, integer); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.request(p_org_id uuid, p_job text, p_params jsonb DEFAULT '{}'::jsonb, p_trigger jsonb DEFAULT '{"kind": "manual"}'::jsonb, p_inputs jsonb DEFAULT '[]'::jsonb, p_idempotency_key text DEFAULT NULL::text, p_delay_seconds integer DEFAULT 0) RETURNS runs.runs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF NOT core.caller_may_write(p_org_id) THEN
        RAISE EXCEPTION 'you may not run jobs in this org' USING ERRCODE = '42501',
            HINT = 'running a job needs the writer or admin role in its org';
    END IF;
    PERFORM runs.check_queue_quota(p_org_id);  -- sql/87: over it, refused; nothing queued
    PERFORM runs.check_cpu_quota(p_org_id);  -- sql/93: the daily CPU-seconds quota
    -- Inputs name versions of the org's own datasets; their URIs, rows and schema come from the
    -- catalog, never from the caller (a caller-supplied URI could point at another org's files).
    RETURN runs.enqueue(p_org_id, p_job, p_params, p_trigger,
                        runs.resolve_inputs(p_org_id, p_inputs), p_idempotency_key,
                        p_delay_seconds);
END
$$;


ALTER FUNCTION runs.request(p_org_id uuid, p_job text, p_params jsonb, p_trigger jsonb, p_inputs jsonb, p_idempotency_key text, p_delay_seconds integer) OWNER TO chainlake_definer;

--
-- Name: rerun(uuid); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.rerun(p_run_id uuid) RETURNS runs.runs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    old runs.runs;
BEGIN
    SELECT * INTO old FROM runs.runs WHERE id = p_run_id;
    IF NOT FOUND OR NOT core.caller_may_write(old.org_id) THEN
        RAISE EXCEPTION 'unknown run %', p_run_id USING ERRCODE = '42704',
            HINT = 'list runs with `chainlake run list`';
    END IF;
    PERFORM runs.check_queue_quota(old.org_id);
    RETURN runs.enqueue(old.org_id, old.job_name, old.params,
                        jsonb_build_object('kind', 'rerun', 'of', old.id), old.inputs,
                        format('rerun:%s:%s', old.id, gen_random_uuid()));
END
$$;


ALTER FUNCTION runs.rerun(p_run_id uuid) OWNER TO chainlake_definer;

--
-- Name: rerun_failed(uuid); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.rerun_failed(p_root uuid) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    root runs.runs;
    failed runs.runs;
    to_rerun runs.runs[];
    queued integer := 0;
BEGIN
    SELECT * INTO root FROM runs.runs WHERE id = p_root;
    IF NOT FOUND OR NOT core.caller_may_write(root.org_id) THEN
        RAISE EXCEPTION 'unknown run %', p_root USING ERRCODE = '42704',
            HINT = 'list runs with `chainlake run list`';
    END IF;
    to_rerun := ARRAY(
        SELECT f FROM runs.runs f
        WHERE f.org_id = root.org_id AND (f.id = root.id OR f.trigger ->> 'root_run' = root.id::text)
          AND f.status IN ('failed', 'dead')
          AND NOT EXISTS (SELECT 1 FROM runs.runs again
                          WHERE again.org_id = f.org_id AND again.trigger ->> 'of' = f.id::text
                            AND again.status NOT IN ('failed', 'dead'))
        ORDER BY f.created_at);
    PERFORM runs.check_queue_quota(root.org_id, cardinality(to_rerun));
    FOREACH failed IN ARRAY to_rerun
    LOOP
        PERFORM runs.enqueue(failed.org_id, failed.job_name, failed.params,
                             jsonb_build_object('kind', 'rerun', 'of', failed.id,
                                                'root_run', root.id),
                             failed.inputs, format('rerun:%s:%s', failed.id, gen_random_uuid()));
        queued := queued + 1;
    END LOOP;
    RETURN queued;
END
$$;


ALTER FUNCTION runs.rerun_failed(p_root uuid) OWNER TO chainlake_definer;

--
-- Name: resolve_inputs(uuid, jsonb); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.resolve_inputs(p_org_id uuid, p_inputs jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    given jsonb;
    resolved jsonb;
    result jsonb := '[]';
BEGIN
    FOR given IN SELECT * FROM jsonb_array_elements(coalesce(p_inputs, '[]')) LOOP
        resolved := catalog.version_as_input(p_org_id, given ->> 'dataset',
                                             core.try_int(given ->> 'version'));
        IF resolved IS NULL THEN
            RAISE EXCEPTION 'unknown input: dataset "%" version %', given ->> 'dataset',
                coalesce(given ->> 'version', '(none)') USING ERRCODE = '42704',
                HINT = 'an input names a version of one of the org''s datasets: {"dataset": D, "version": N}';
        END IF;
        result := result || jsonb_build_array(resolved);
    END LOOP;
    RETURN result;
END
$$;


ALTER FUNCTION runs.resolve_inputs(p_org_id uuid, p_inputs jsonb) OWNER TO postgres;

--
-- Name: run_inputs; Type: ROW SECURITY; Schema: runs; Owner: postgres
--

ALTER TABLE runs.run_inputs ENABLE ROW LEVEL SECURITY;

--
-- Name: run_inputs; Type: TABLE; Schema: runs; Owner: postgres
--

CREATE TABLE runs.run_inputs (
    org_id uuid NOT NULL,
    run_id uuid NOT NULL,
    dataset_id uuid NOT NULL,
    version integer NOT NULL
);

ALTER TABLE ONLY runs.run_inputs FORCE ROW LEVEL SECURITY;


ALTER TABLE runs.run_inputs OWNER TO postgres;

--
-- Name: run_inputs members read their orgs rows; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON runs.run_inputs FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: run_inputs run_inputs_org_id_fkey; Type: FK CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.run_inputs
    ADD CONSTRAINT run_inputs_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: run_inputs run_inputs_pkey; Type: CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.run_inputs
    ADD CONSTRAINT run_inputs_pkey PRIMARY KEY (org_id, run_id, dataset_id, version);

--
-- Name: run_inputs runners write for the org they act for; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "runners write for the org they act for" ON runs.run_inputs TO chainlake_runner USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: run_inputs the platform's definer functions; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON runs.run_inputs TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: run_inputs_version_idx; Type: INDEX; Schema: runs; Owner: postgres
--

CREATE INDEX run_inputs_version_idx ON runs.run_inputs USING btree (org_id, dataset_id, version);

--
-- Name: runs; Type: ROW SECURITY; Schema: runs; Owner: postgres
--

ALTER TABLE runs.runs ENABLE ROW LEVEL SECURITY;

--
-- Name: runs; Type: TABLE; Schema: runs; Owner: postgres
--

CREATE TABLE runs.runs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    org_id uuid NOT NULL,
    job_name text NOT NULL,
    job_version text NOT NULL,
    status text DEFAULT 'queued'::text NOT NULL,
    initiated_by uuid,
    params jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    definition_id uuid,
    trigger jsonb DEFAULT '{}'::jsonb NOT NULL,
    config jsonb DEFAULT '{}'::jsonb NOT NULL,
    inputs jsonb DEFAULT '[]'::jsonb NOT NULL,
    outputs jsonb DEFAULT '[]'::jsonb NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    error jsonb,
    attempt integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 3 NOT NULL,
    idempotency_key text,
    msg_id bigint,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    lease_until timestamp with time zone,
    trace_id text DEFAULT COALESCE(NULLIF(current_setting('chainlake.trace_id'::text, true), ''::text), replace((gen_random_uuid())::text, '-'::text, ''::text)) NOT NULL,
    CONSTRAINT runs_status CHECK ((status = ANY (ARRAY['queued'::text, 'running'::text, 'retrying'::text, 'succeeded'::text, 'failed'::text, 'dead'::text, 'cancelled'::text]))),
    CONSTRAINT runs_trace_id CHECK ((trace_id ~ '^[0-9a-f]{32}$'::text))
);

ALTER TABLE ONLY runs.runs FORCE ROW LEVEL SECURITY;


ALTER TABLE runs.runs OWNER TO postgres;

--
-- Name: runs members read their orgs rows; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "members read their orgs rows" ON runs.runs FOR SELECT TO chainlake_users USING ((org_id = ANY (( SELECT core.caller_org_ids('read'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: runs runners write for the org they act for; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "runners write for the org they act for" ON runs.runs TO chainlake_runner USING ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[]))) WITH CHECK ((org_id = ANY (( SELECT core.caller_org_ids('write'::core.access) AS caller_org_ids)::uuid[])));

--
-- Name: runs runs_idempotency_key; Type: CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.runs
    ADD CONSTRAINT runs_idempotency_key UNIQUE (org_id, idempotency_key);

--
-- Name: runs runs_initiated_by_fkey; Type: FK CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.runs
    ADD CONSTRAINT runs_initiated_by_fkey FOREIGN KEY (initiated_by) REFERENCES core.users(id) ON DELETE SET NULL;

--
-- Name: runs runs_org_id_fkey; Type: FK CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.runs
    ADD CONSTRAINT runs_org_id_fkey FOREIGN KEY (org_id) REFERENCES core.orgs(id) ON DELETE CASCADE;

--
-- Name: runs runs_pkey; Type: CONSTRAINT; Schema: runs; Owner: postgres
--

ALTER TABLE ONLY runs.runs
    ADD CONSTRAINT runs_pkey PRIMARY KEY (org_id, id);

--
-- Name: runs runs_stamp_initiator; Type: TRIGGER; Schema: runs; Owner: postgres
--

CREATE TRIGGER runs_stamp_initiator BEFORE INSERT OR UPDATE ON runs.runs FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('initiated_by');

--
-- Name: runs the platform's definer functions; Type: POLICY; Schema: runs; Owner: postgres
--

CREATE POLICY "the platform's definer functions" ON runs.runs TO chainlake_definer USING (true) WITH CHECK (true);

--
-- Name: runs_job_created_idx; Type: INDEX; Schema: runs; Owner: postgres
--

CREATE INDEX runs_job_created_idx ON runs.runs USING btree (org_id, job_name, created_at DESC);

--
-- Name: runs_org_created_idx; Type: INDEX; Schema: runs; Owner: postgres
--

CREATE INDEX runs_org_created_idx ON runs.runs USING btree (org_id, created_at DESC);

--
-- Name: runs_org_started_idx; Type: INDEX; Schema: runs; Owner: postgres
--

CREATE INDEX runs_org_started_idx ON runs.runs USING btree (org_id, started_at DESC NULLS LAST);

--
-- Name: runs_org_status_idx; Type: INDEX; Schema: runs; Owner: postgres
--

CREATE INDEX runs_org_status_idx ON runs.runs USING btree (org_id, status);

--
-- Name: show(text); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.show(p_run_id text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN (SELECT to_jsonb(r) - 'org_id' - 'msg_id' - 'lease_until' - 'idempotency_key'
               || jsonb_build_object(
                   'org', o.name, 'initiated_by_email', u.email,
                   'duration_seconds', extract(epoch FROM r.finished_at - r.started_at),
                   'attempts', coalesce((
                       SELECT jsonb_agg(jsonb_build_object(
                           'attempt', a.attempt, 'runner', a.runner, 'status', a.status,
                           'started_at', a.started_at, 'finished_at', a.finished_at,
                           'error', a.error) ORDER BY a.attempt)
                       FROM runs.attempts a WHERE a.org_id = r.org_id AND a.run_id = r.id), '[]'))
        FROM runs.runs r JOIN core.orgs o ON o.id = r.org_id
        LEFT JOIN core.users u ON u.id = r.initiated_by
        WHERE r.id = core.try_uuid(p_run_id));
END
$$;


ALTER FUNCTION runs.show(p_run_id text) OWNER TO postgres;

--
-- Name: start(uuid, text, integer); Type: FUNCTION; Schema: runs; Owner: postgres
--

CREATE FUNCTION runs.start(p_run_id uuid, p_runner text, p_lease_seconds integer) RETURNS TABLE(run jsonb, definition jsonb, verdict text)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    r runs.runs;
    def jobs.definitions;
    running integer;
    quota integer;
BEGIN
    SELECT * INTO r FROM runs.runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::jsonb, NULL::jsonb, 'unknown'::text;
        RETURN;
    END IF;
    SELECT * INTO def FROM jobs.definitions WHERE org_id = r.org_id AND id = r.definition_id;
    IF r.status IN ('succeeded', 'failed', 'dead', 'cancelled') THEN
        RETURN QUERY SELECT to_jsonb(r), to_jsonb(def), 'finished'::text;
        RETURN;
    END IF;
    IF r.attempt >= r.max_attempts THEN
        PERFORM runs.dead_letter(r, jsonb_build_object(
            'type', 'LeaseExpired',
            'message', format('no attempt of %s finished: its runner stopped or lost the lease',
                              r.max_attempts)));
        RETURN QUERY SELECT to_jsonb(r), to_jsonb(def), 'dead'::text;
        RETURN;
    END IF;
    -- One claim per org at a time, so two runners cannot both see a free slot (a row lock no
    -- tenant can take: sql/core/31_blocking.sql).
    PERFORM core.lock_until_commit('runs.start', r.org_id);
    -- Count the org's other runs whose runner is alive (its lease is being renewed); a run
    -- left behind by a dead runner stops counting when its lease runs out, so orphans never
    -- fill the quota and block their own recovery.
    SELECT count(*) INTO running FROM runs.runs
    WHERE org_id = r.org_id AND status = 'running' AND id <> r.id AND lease_until > now();
    SELECT max_concurrent_runs INTO quota FROM core.quotas WHERE org_id = r.org_id;
    IF running >= coalesce(quota, 8) THEN
        RETURN QUERY SELECT to_jsonb(r), to_jsonb(def), 'throttled'::text;
        RETURN;
    END IF;
    UPDATE runs.attempts SET status = 'lost', finished_at = now()
    WHERE org_id = r.org_id AND run_id = r.id AND status = 'running';
    UPDATE runs.runs SET status = 'running', attempt = attempt + 1,
                         started_at = coalesce(started_at, now()),
                         lease_until = now() + p_lease_seconds * interval '1 second'
    WHERE org_id = r.org_id AND id = r.id RETURNING * INTO r;
    INSERT INTO runs.attempts (org_id, run_id, attempt, runner) VALUES (r.org_id, r.id, r.attempt, p_runner);
    PERFORM audit.record(r.org_id, 'job.launch', r.job_name,
                         jsonb_build_object('run_id', r.id, 'attempt', r.attempt,
                                            'version', r.job_version, 'runner', p_runner));
    RETURN QUERY SELECT to_jsonb(r), to_jsonb(def), 'run'::text;
END
$$;


ALTER FUNCTION runs.start(p_run_id uuid, p_runner text, p_lease_seconds integer) OWNER TO postgres;

--
-- Name: take_tasks(integer, integer, boolean, integer, jsonb); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.take_tasks(p_limit integer, p_vt integer, p_platform boolean, p_per_org integer DEFAULT NULL::integer, p_busy jsonb DEFAULT '{}'::jsonb) RETURNS TABLE(msg_id bigint, read_ct integer, message jsonb)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH heads AS (
        SELECT t.msg_id, row_number() OVER (PARTITION BY o.id ORDER BY t.msg_id) AS turn,
               (SELECT max(r.started_at) FROM runs.runs r WHERE r.org_id = o.id) AS served
        FROM core.orgs o
        CROSS JOIN LATERAL (
            SELECT q.msg_id FROM pgmq.q_run_tasks q
            WHERE q.message ->> 'org_id' = o.id::text AND q.vt <= clock_timestamp()
            ORDER BY q.msg_id
            LIMIT greatest(least(p_limit, p_per_org - coalesce((p_busy ->> o.id::text)::integer, 0)), 0)
            FOR UPDATE SKIP LOCKED
        ) t
        WHERE o.system = p_platform
    ), chosen AS (
        SELECT h.msg_id FROM heads h
        ORDER BY h.turn, h.served NULLS FIRST, h.msg_id
        LIMIT greatest(p_limit, 0)
    )
    UPDATE pgmq.q_run_tasks q
    SET vt = clock_timestamp() + make_interval(secs => p_vt), read_ct = q.read_ct + 1
    FROM chosen c
    WHERE q.msg_id = c.msg_id
    RETURNING q.msg_id, q.read_ct, q.message
$$;


ALTER FUNCTION runs.take_tasks(p_limit integer, p_vt integer, p_platform boolean, p_per_org integer, p_busy jsonb) OWNER TO chainlake_definer;

--
-- Name: usage(text, integer); Type: FUNCTION; Schema: runs; Owner: chainlake_definer
--

CREATE FUNCTION runs.usage(p_org text DEFAULT NULL::text, p_days integer DEFAULT 7) RETURNS TABLE(org text, day date, attempts bigint, cpu_seconds double precision, peak_memory_bytes bigint, bytes_written bigint, queries bigint, query_seconds double precision, bytes_scanned bigint, result_bytes bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    since date;
BEGIN
    IF p_days IS NULL OR p_days < 1 OR p_days > 366 THEN
        RAISE EXCEPTION 'days must be between 1 and 366, not %', coalesce(p_days::text, 'none')
            USING ERRCODE = '22023', HINT = 'e.g. --days 7';
    END IF;
    IF p_org IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM core.orgs o WHERE o.name = p_org
          AND (o.id = ANY (core.caller_org_ids('member')) OR core.caller_is_operator())) THEN
        RAISE EXCEPTION 'no org "%" among the orgs you are a member of', p_org
            USING ERRCODE = '42704', HINT = 'list your orgs with `chainlake org list`';
    END IF;
    since := (now() AT TIME ZONE 'UTC')::date - (p_days - 1);
    RETURN QUERY
    WITH orgs AS (
        SELECT o.id, o.name FROM core.orgs o
        WHERE (p_org IS NULL OR o.name = p_org)
          AND (o.id = ANY (core.caller_org_ids('member')) OR core.caller_is_operator())
    ), cpu AS (
        SELECT a.org_id, (a.started_at AT TIME ZONE 'UTC')::date AS d, count(*) AS n,
               sum(a.cpu_seconds) AS cpu, max(a.peak_memory_bytes) AS mem
        FROM runs.attempts a JOIN orgs ON orgs.id = a.org_id
        WHERE a.started_at >= since::timestamp AT TIME ZONE 'UTC'
        GROUP BY 1, 2
    ), written AS (
        SELECT v.org_id, (v.created_at AT TIME ZONE 'UTC')::date AS d, sum(v.bytes) AS b
        FROM catalog.asset_versions v JOIN orgs ON orgs.id = v.org_id
        WHERE v.created_at >= since::timestamp AT TIME ZONE 'UTC'
        GROUP BY 1, 2
    ), queried AS (
        SELECT q.org_id, (q.at AT TIME ZONE 'UTC')::date AS d, count(*) AS n,
               sum(q.seconds) AS s, sum(q.bytes_scanned) AS scanned, sum(q.result_bytes) AS sent
        FROM catalog.query_usage q JOIN orgs ON orgs.id = q.org_id
        WHERE q.at >= since::timestamp AT TIME ZONE 'UTC'
        GROUP BY 1, 2
    ), keys AS (
        SELECT org_id, d FROM cpu UNION SELECT org_id, d FROM written
        UNION SELECT org_id, d FROM queried
    )
    SELECT orgs.name, k.d, coalesce(cpu.n, 0), coalesce(cpu.cpu, 0), cpu.mem,
           coalesce(written.b, 0)::bigint, coalesce(queried.n, 0), coalesce(queried.s, 0),
           queried.scanned::bigint, coalesce(queried.sent, 0)::bigint
    FROM keys k JOIN orgs ON orgs.id = k.org_id
    LEFT JOIN cpu ON cpu.org_id = k.org_id AND cpu.d = k.d
    LEFT JOIN written ON written.org_id = k.org_id AND written.d = k.d
    LEFT JOIN queried ON queried.org_id = k.org_id AND queried.d = k.d
    ORDER BY orgs.name, k.d DESC;
END
$$;


ALTER FUNCTION runs.usage(p_org text, p_days integer) OWNER TO chainlake_definer;
