-- Runs once, when the PostgreSQL volume is created (docker-entrypoint-initdb.d). Two roles: ebb_owner
-- owns the schema and runs the migrations (the `migrate` service); ebb_app is what the API and workers
-- connect as. ebb_app may read and write the rollout tables, and only SELECT and INSERT the audit history:
-- history that the application itself cannot rewrite (the audit migration's triggers also refuse UPDATE,
-- DELETE and TRUNCATE for every role).
\set owner_password `echo "$EBB_OWNER_PASSWORD"`
\set app_password `echo "$EBB_APP_PASSWORD"`
CREATE ROLE ebb_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE ebb_app LOGIN PASSWORD :'app_password';
GRANT ALL ON DATABASE ebb TO ebb_owner;
ALTER SCHEMA public OWNER TO ebb_owner;
GRANT USAGE ON SCHEMA public TO ebb_app;
ALTER DEFAULT PRIVILEGES FOR ROLE ebb_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ebb_app;
ALTER DEFAULT PRIVILEGES FOR ROLE ebb_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO ebb_app;
