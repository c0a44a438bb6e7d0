-- Chain ingestion's rules, kept here so that every writer (live ingest, backfill, the archiver,
-- repair) obeys the same ones: a hot batch extends the stored canonical chain hash by hash; a
-- reorg never reaches below finality; the watermark moves only over contiguous, linked chunks,
-- and the hot rows it covers are pruned in the same transaction.

CREATE OR REPLACE FUNCTION chain.register_chain(
    p_chain_id bigint, p_name text, p_start_block bigint, p_finality_depth integer,
    p_chunk_size integer
) RETURNS chain.chains
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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

-- Every writer's first step: lock the chain's row, so that commit_batch, rewind, drop_hot_from,
-- record_chunk and advance_watermark run one after another per chain, each seeing the others'
-- committed work.
CREATE OR REPLACE FUNCTION chain.lock_chain(p_chain_id bigint) RETURNS chain.chains
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
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
REVOKE EXECUTE ON FUNCTION chain.lock_chain(bigint) FROM PUBLIC;

-- A run's outputs are recorded while no invalidation of the chains it was built from can commit:
-- a share lock on their rows, which a rewind or repair (chain.lock_chain) waits for and which
-- waits for them. Without it the two race: the recorder checks "not overtaken" before the rewind
-- commits, the rewind supersedes the current ranges it saw before the recorder commits, and the
-- old branch's range stays current (its recompute then overlaps it and is refused).
CREATE OR REPLACE FUNCTION chain.hold_steady(p_chain_ids bigint[]) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT 1 FROM chain.chains WHERE chain_id = ANY (p_chain_ids) ORDER BY chain_id FOR KEY SHARE
$$;
REVOKE EXECUTE ON FUNCTION chain.hold_steady(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chain.hold_steady(bigint[]) TO chainlake_runner;

-- The hash the block after p_number must name as its parent: hot first, then cold.
CREATE OR REPLACE FUNCTION chain.stored_hash(p_chain_id bigint, p_number bigint) RETURNS bytea
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(
        (SELECT hash FROM chain.blocks WHERE chain_id = p_chain_id AND number = p_number),
        (SELECT last_hash FROM chain.chunks WHERE chain_id = p_chain_id AND to_block = p_number))
$$;

-- The hashes of blocks p_first and p_last where Postgres knows them (hot, or a chunk's edge),
-- and the chain's newest event: read in the same snapshot as the rows handed to a job.
CREATE OR REPLACE FUNCTION chain.range_ends(p_chain_id bigint, p_first bigint, p_last bigint)
RETURNS TABLE (first_hash bytea, last_hash bytea, events_through bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT chain.stored_hash(p_chain_id, p_first), chain.stored_hash(p_chain_id, p_last),
           (SELECT max(e.id) FROM chain.events e WHERE e.chain_id = p_chain_id)
$$;
GRANT EXECUTE ON FUNCTION chain.range_ends(bigint, bigint, bigint) TO chainlake_runner;

-- Where live ingest resumes: one past the highest block stored hot or cold.
CREATE OR REPLACE FUNCTION chain.resume_point(p_chain_id bigint)
RETURNS TABLE (next_block bigint, parent_hash bytea)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH tip AS (
        SELECT greatest(
            (SELECT max(number) FROM chain.blocks WHERE chain_id = p_chain_id),
            (SELECT archived_to FROM chain.chains WHERE chain_id = p_chain_id)) AS n
    )
    SELECT tip.n + 1, chain.stored_hash(p_chain_id, tip.n) FROM tip WHERE tip.n IS NOT NULL
$$;

-- Called in the transaction that COPYed blocks p_from..p_to (and their transactions and logs):
-- checks that they extend the stored chain, then records the batch and wakes listeners. Alert
-- rules are evaluated next, in the same transaction but as statements of their own, each under
-- a time budget (alerts.on_batch, called by chainlake.alerts.evaluate).
CREATE OR REPLACE FUNCTION chain.commit_batch(
    p_chain_id bigint, p_from bigint, p_to bigint, p_finalized bigint
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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

-- A reorg: drop the stored blocks above p_fork_block (their transactions and logs cascade),
-- log it, emit an invalidation of the orphaned range, and supersede the derived partitions it
-- fed (queueing their recompute). The caller writes the new branch and commits it with
-- chain.commit_batch in the same transaction. Never below finality.
CREATE OR REPLACE FUNCTION chain.rewind(
    p_chain_id bigint, p_fork_block bigint, p_new_hashes bytea[]
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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

-- Repair: drop the hot blocks from p_from up (their transactions and logs cascade) so that
-- ingest writes them again from the node; an invalidation event tells dependants.
CREATE OR REPLACE FUNCTION chain.drop_hot_from(p_chain_id bigint, p_from bigint) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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

-- Ingestion stopped itself (a reorg below finality): say so where operators look.
CREATE OR REPLACE FUNCTION chain.record_stop(p_chain_id bigint, p_reason text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE chain.chains SET stopped_reason = p_reason, updated_at = now()
    WHERE chain_id = p_chain_id
$$;

-- A cold chunk, written and verified by its writer. Aligned ranges, so the archiver and a
-- backfill of the same range meet on the primary key: the first one wins, the other learns it
-- lost (false) and removes its files. p_replace: a repair replacing a damaged chunk.
CREATE OR REPLACE FUNCTION chain.record_chunk(
    p_chain_id bigint, p_from bigint, p_to bigint, p_first_parent_hash bytea, p_last_hash bytea,
    p_prefix text, p_files jsonb, p_source text, p_replace boolean DEFAULT false
) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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

-- Move the watermark over every contiguous chunk above it and prune the hot rows it now
-- covers, in one transaction: readers see cold up to the watermark and hot above it.
CREATE OR REPLACE FUNCTION chain.advance_watermark(p_chain_id bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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

-- Problems in what Postgres knows: hot gaps and broken hash links, the hot/cold seam, cold gaps
-- and broken links between chunks. (Chunk files are checked against their checksums by the
-- caller, which can read the object store.)
CREATE OR REPLACE FUNCTION chain.check(p_chain_id bigint)
RETURNS TABLE (problem text, from_block bigint, to_block bigint, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
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

-- What the unified views read, in the same snapshot as the hot rows: the chunks under the
-- watermark. These four run as the caller: RLS decides.
CREATE OR REPLACE FUNCTION chain.cold_chunks(p_chain_id bigint)
RETURNS TABLE (from_block bigint, to_block bigint, prefix text, files jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.from_block, k.to_block, k.prefix, k.files FROM chain.chunks k
    JOIN chain.chains c USING (chain_id)
    WHERE k.chain_id = p_chain_id AND k.to_block <= c.archived_to
    ORDER BY k.from_block
$$;

-- Live ingest's view of its chain's RPC endpoints, reported when it changes: for each (in the
-- order configured) its address (host:port only) and, when it is failing, for how many seconds
-- and why. An endpoint down already keeps the moment it went down. Endpoints no longer
-- configured are dropped. The system alert rule rpc-endpoint-down reads it (alerts.platform_health).
CREATE OR REPLACE FUNCTION chain.report_rpc_health(p_chain_id bigint, p_endpoints jsonb)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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

-- The scheduled integrity check's finding (jobs/system/chain_check): how many problems and the
-- first of them (at most 20 kept). The system alert rule chain-check reads it
-- (alerts.platform_health).
CREATE OR REPLACE FUNCTION chain.report_check(p_chain_id bigint, p_problems integer, p_first jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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

GRANT EXECUTE ON FUNCTION
    chain.register_chain(bigint, text, bigint, integer, integer),
    chain.commit_batch(bigint, bigint, bigint, bigint),
    chain.rewind(bigint, bigint, bytea[]),
    chain.record_stop(bigint, text),
    chain.drop_hot_from(bigint, bigint),
    chain.record_chunk(bigint, bigint, bigint, bytea, bytea, text, jsonb, text, boolean),
    chain.advance_watermark(bigint),
    chain.report_rpc_health(bigint, jsonb),
    chain.report_check(bigint, integer, jsonb)
TO chainlake_ingest;
GRANT EXECUTE ON FUNCTION
    chain.stored_hash(bigint, bigint),
    chain.resume_point(bigint),
    chain.check(bigint),
    chain.cold_chunks(bigint)
TO chainlake_ingest, chainlake_users;

-- What `chainlake chain status` shows: each chain's hot head, finality, watermark and counts, and
-- its last reorg (chain.status_for_caller adds the datasets it invalidated that the caller sees).
DROP FUNCTION IF EXISTS chain.status();  -- its columns changed
CREATE FUNCTION chain.status()
RETURNS TABLE (chain_id bigint, name text, head bigint, finalized bigint, watermark bigint,
               stopped_reason text, hot_blocks bigint, chunks bigint, reorgs bigint,
               last_ingested timestamptz, last_reorg jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
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
GRANT EXECUTE ON FUNCTION chain.status() TO chainlake_ingest, chainlake_users;
