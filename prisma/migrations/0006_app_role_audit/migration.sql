-- Where the deployment has an application role (docker-compose.yml: ebb_app, whose default privileges
-- grant it UPDATE and DELETE on new tables), take those back on the audit history: the application may
-- read and append it, never rewrite it. Elsewhere (the lab, tests) there is no such role: nothing to do.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ebb_app') THEN
    REVOKE UPDATE, DELETE, TRUNCATE ON "audit_events" FROM ebb_app;
  END IF;
END $$;
