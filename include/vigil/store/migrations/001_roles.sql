-- Vigil warehouse (PostgreSQL): least-privilege roles and grants. Idempotent: run it as often as
-- wanted (every deployment does, from airflow-init); the result is always exactly the grants below.
--
-- Run by vigil.roles.apply_roles(admin_url) as a superuser (or a role with CREATEROLE that is a
-- member of every vigil_* role), AFTER it has created the fixed tables (raw layer, audit log,
-- data-quality results, alert ledger, tickets) with the code's own DDL. Roles are cluster-wide;
-- grants are per database (this one). docs/deployment.md explains every grant.
--
-- Roles (NOLOGIN here; vigil.roles gives LOGIN and a password to those it is given passwords for):
--   vigil_owner        owns raw, audit, tickets and their tables; nobody logs in as it
--   vigil_loader       writes raw (partition replace: SELECT, INSERT, DELETE)
--   vigil_transformer  dbt: reads raw, owns staging .. publish; gates, breakers, publish, creates tickets
--   vigil_dispatcher   reads publish and tickets; updates only status columns; appends delivery
--                      attempts, the audit log and the alert ledger
--   vigil_reporter     reads publish
--   vigil_auditor      reads audit

-- ------------------------------------------------------------------------------------------ roles
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['vigil_owner', 'vigil_loader', 'vigil_transformer', 'vigil_dispatcher',
                             'vigil_reporter', 'vigil_auditor'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created by a concurrent run (roles are shared by every database of the cluster)
            END;
        END IF;
    END LOOP;
END
$$;

-- ------------------------------------------------------------------------------------- database
-- Only the vigil roles connect; nobody but dbt creates schemas; temporary tables for dbt's
-- incremental models (delete+insert) only.
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM vigil_owner, vigil_loader, vigil_transformer, '
                   'vigil_dispatcher, vigil_reporter, vigil_auditor', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO vigil_loader, vigil_transformer, vigil_dispatcher, '
                   'vigil_reporter, vigil_auditor', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO vigil_transformer', current_database());
END
$$;

-- -------------------------------------------------------------------------------------- schemas
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS intermediate;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS publish_candidate;
CREATE SCHEMA IF NOT EXISTS publish;
CREATE SCHEMA IF NOT EXISTS audit;
CREATE SCHEMA IF NOT EXISTS tickets;
CREATE SCHEMA IF NOT EXISTS urgent;
CREATE SCHEMA IF NOT EXISTS case_delivery;
ALTER SCHEMA raw OWNER TO vigil_owner;
ALTER SCHEMA audit OWNER TO vigil_owner;
ALTER SCHEMA tickets OWNER TO vigil_owner;
ALTER SCHEMA urgent OWNER TO vigil_owner;
ALTER SCHEMA case_delivery OWNER TO vigil_owner;
-- dbt creates, replaces and drops the relations of these schemas: it owns them.
ALTER SCHEMA staging OWNER TO vigil_transformer;
ALTER SCHEMA intermediate OWNER TO vigil_transformer;
ALTER SCHEMA marts OWNER TO vigil_transformer;
ALTER SCHEMA publish_candidate OWNER TO vigil_transformer;
ALTER SCHEMA publish OWNER TO vigil_transformer;

-- Ownership of what already exists: the fixed tables just created by the admin (and anything an
-- earlier, role-less deployment left) go to vigil_owner; dbt's relations, and the gates' per-night
-- work relations (audit.dq_batch__*, dropped and recreated by every gate run), to vigil_transformer.
DO $$
DECLARE
    rel record;
    target text;
BEGIN
    FOR rel IN
        SELECT n.nspname, c.relname, c.relkind, pg_catalog.pg_get_userbyid(c.relowner) AS owner
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('raw', 'audit', 'tickets', 'urgent', 'case_delivery', 'staging', 'intermediate', 'marts',
                            'publish_candidate', 'publish')
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    LOOP
        target := CASE
            WHEN rel.nspname = 'audit' AND rel.relname LIKE 'dq\_batch\_\_%' THEN 'vigil_transformer'
            WHEN rel.nspname IN ('raw', 'audit', 'tickets', 'urgent', 'case_delivery') THEN 'vigil_owner'
            ELSE 'vigil_transformer' END;
        CONTINUE WHEN rel.owner = target;
        EXECUTE format('ALTER %s %I.%I OWNER TO %I',
                       CASE rel.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                        WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                       rel.nspname, rel.relname, target);
    END LOOP;
END
$$;

-- --------------------------------------------------------- start from nothing, then grant exactly
-- Every privilege any role but a relation's owner holds on it is revoked (a table-level REVOKE
-- also revokes its column privileges), so a grant an earlier version made never lingers.
DO $$
DECLARE
    rel record;
    r text;
    s text;
    roles text[] := ARRAY['vigil_owner', 'vigil_loader', 'vigil_transformer', 'vigil_dispatcher',
                          'vigil_reporter', 'vigil_auditor'];
BEGIN
    FOR rel IN
        SELECT n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner) AS owner
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('raw', 'audit', 'tickets', 'urgent', 'case_delivery', 'staging', 'intermediate', 'marts',
                            'publish_candidate', 'publish', 'public')
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND (c.relacl IS NOT NULL OR EXISTS (
              SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL))
    LOOP
        EXECUTE format('REVOKE ALL ON %I.%I FROM PUBLIC', rel.nspname, rel.relname);
        FOREACH r IN ARRAY roles LOOP
            CONTINUE WHEN r = rel.owner;
            EXECUTE format('REVOKE ALL ON %I.%I FROM %I', rel.nspname, rel.relname, r);
        END LOOP;
    END LOOP;
    FOREACH s IN ARRAY ARRAY['raw', 'audit', 'tickets', 'urgent', 'case_delivery', 'staging', 'intermediate', 'marts',
                             'publish_candidate', 'publish', 'public'] LOOP
        FOREACH r IN ARRAY roles LOOP
            -- an owner's rights on its own schema are not grants; everyone else's are revoked
            CONTINUE WHEN r = (SELECT pg_catalog.pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace
                               WHERE nspname = s);
            EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %I', s, r);
        END LOOP;
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE vigil_transformer IN SCHEMA %I '
                       'REVOKE ALL ON TABLES FROM PUBLIC, vigil_owner, vigil_loader, vigil_dispatcher, '
                       'vigil_reporter, vigil_auditor', s);
    END LOOP;
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;  -- the PostgreSQL 15 default; older servers granted it

-- ------------------------------------------------------------------------------------------ raw
GRANT USAGE ON SCHEMA raw TO vigil_loader, vigil_transformer;
GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA raw TO vigil_loader;  -- replace one night's partition
GRANT SELECT ON ALL TABLES IN SCHEMA raw TO vigil_transformer;              -- dbt sources, gates, breakers

-- ------------------------------------------------------------------- dbt's schemas (transformer)
-- vigil_transformer owns staging, intermediate, marts, publish_candidate and publish; dbt's seeds
-- land in the target schema `public`.
GRANT USAGE, CREATE ON SCHEMA public TO vigil_transformer;
GRANT USAGE ON SCHEMA publish TO vigil_dispatcher, vigil_reporter;
GRANT SELECT ON ALL TABLES IN SCHEMA publish TO vigil_dispatcher, vigil_reporter;
-- The publish step recreates a table whose contract changed: new tables are readable at once.
ALTER DEFAULT PRIVILEGES FOR ROLE vigil_transformer IN SCHEMA publish
    GRANT SELECT ON TABLES TO vigil_dispatcher, vigil_reporter;

-- ---------------------------------------------------------------------------------------- audit
-- vigil_transformer creates the gates' per-night work relations (audit.dq_batch__*) here.
GRANT USAGE, CREATE ON SCHEMA audit TO vigil_transformer;
GRANT USAGE ON SCHEMA audit TO vigil_dispatcher, vigil_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA audit TO vigil_auditor;
-- The audit log is append-only for everyone: INSERT, never UPDATE or DELETE.
GRANT SELECT, INSERT ON audit.audit_log TO vigil_transformer;   -- breakers read approvals
GRANT INSERT ON audit.audit_log TO vigil_dispatcher;
GRANT SELECT (event_id) ON audit.audit_log TO vigil_dispatcher; -- "already appended?" and nothing more
-- Data-quality results: a rerun of a night replaces that night's rows.
GRANT SELECT, INSERT, DELETE ON audit.dq_results TO vigil_transformer;
-- Alert ledger (append-only): the dispatcher sends the nightly alerts, the transformer's gates
-- and breakers the data-quality and hold alerts.
GRANT SELECT, INSERT ON audit.alerts_sent, audit.alert_deliveries TO vigil_transformer, vigil_dispatcher;
-- Cases written to the ITSM (append-only, one row per case revision): the dispatcher writes them.
GRANT SELECT, INSERT ON audit.cases_written TO vigil_dispatcher;

-- -------------------------------------------------------------------------------------- tickets
GRANT USAGE ON SCHEMA tickets TO vigil_transformer, vigil_dispatcher;
-- vigil_transformer creates tickets with their outbox rows (one transaction), appends their
-- revisions (priority changes, re-delivered as updates) and closes them from the night's IAM
-- snapshot (raw), which the dispatcher cannot read.
GRANT SELECT, INSERT ON tickets.tickets, tickets.outbox, tickets.revisions TO vigil_transformer;
GRANT UPDATE (status, status_at, closed_at) ON tickets.tickets TO vigil_transformer;
-- vigil_dispatcher: reads, moves statuses, records attempts. Never INSERT tickets, never DELETE.
GRANT SELECT ON tickets.tickets, tickets.outbox, tickets.delivery_attempts, tickets.revisions TO vigil_dispatcher;
GRANT UPDATE (status, status_at, closed_at) ON tickets.tickets TO vigil_dispatcher;
GRANT UPDATE (state, attempts, next_attempt_at, last_status, last_error) ON tickets.outbox TO vigil_dispatcher;
GRANT INSERT ON tickets.delivery_attempts TO vigil_dispatcher;

-- ---------------------------------------------------------------------------------------- cases
-- Case delivery (docs/cases.md) runs as vigil_dispatcher: it stores each revision of a case document
-- it sends (append-only), queues one outbox row per channel, moves only the outbox's state columns and
-- records attempts. Nothing is deleted.
GRANT USAGE ON SCHEMA case_delivery TO vigil_dispatcher, vigil_auditor;
GRANT SELECT, INSERT ON case_delivery.documents, case_delivery.outbox, case_delivery.delivery_attempts TO vigil_dispatcher;
GRANT UPDATE (state, attempts, next_attempt_at, last_status, last_error) ON case_delivery.outbox TO vigil_dispatcher;
GRANT SELECT ON case_delivery.documents, case_delivery.outbox, case_delivery.delivery_attempts TO vigil_auditor;

-- --------------------------------------------------------------------------------------- urgent
-- The same-day path (docs/events.md) runs as vigil_transformer: it records each HR event and moves
-- only its status columns (nothing deleted); dbt (also the transformer) reads it for the
-- revocation-timeliness KPI; the auditor reads it.
GRANT USAGE ON SCHEMA urgent TO vigil_transformer, vigil_auditor;
GRANT SELECT, INSERT ON urgent.events TO vigil_transformer;
GRANT UPDATE (status, status_at, reason, snapshot_date, plan_fingerprint, ticket_ids, acted_at, contradicted_on)
    ON urgent.events TO vigil_transformer;
GRANT SELECT ON urgent.events TO vigil_auditor;
